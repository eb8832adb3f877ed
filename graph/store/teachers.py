"""Who answered as teacher: the `teachers` table (model, URLs, sampling) and the ids a teacher has not answered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone

from graph.store.db import Store
from state.config import RunConfig

CHUNK = 10_000


def record_teacher(store: Store, name: str, config: RunConfig) -> None:
    """The teachers row of `name`: who answered (model, URLs) and with which sampling; kept if present."""
    urls = config.teacher.base_urls if config.teacher is not None else []
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    sampling = config.sampling_for("teacher").model_dump(mode="json")
    with store.conn:
        store.conn.execute("BEGIN IMMEDIATE")
        store.conn.execute("INSERT OR IGNORE INTO teachers (teacher, model, base_urls, sampling, created) "
                           "VALUES (?, ?, ?, ?, ?)", (name, name, json.dumps(urls), json.dumps(sampling), created))


def unanswered(store: Store, name: str, chunk: int = CHUNK) -> Iterator[tuple[int, str]]:
    """(id, query) of stored queries without an answer from teacher `name`, ascending, in short reads."""
    last = -1
    while True:
        batch = store.conn.execute(
            "SELECT q.id, q.query FROM queries q WHERE q.id > ? AND coalesce(q.query, '') != '' AND NOT EXISTS "
            "(SELECT 1 FROM teacher t WHERE t.id = q.id AND t.teacher = ?) ORDER BY q.id LIMIT ?",
            (last, name, chunk)).fetchall()
        yield from batch
        if len(batch) < chunk:
            return
        last = batch[-1][0]
