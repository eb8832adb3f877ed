"""Queries from a file in a run store: checked against what the store already holds, then placed as
pre-generated queries (the engine runs a stored query as it is), with their source kept in `meta`.

Each query row's attributes JSON carries {"source", "prompt_id"}, so a merged store (graph.merge copies
no meta) still says where its queries came from.
"""

from __future__ import annotations

import json
from typing import Any

from graph.queries.source import HEALTHBENCH, PLAIN, QuerySource
from graph.store.db import Store, StoreError

META_KEY = "queries_from"
SOURCES = (HEALTHBENCH, PLAIN)


def stored_source(store: Store) -> dict[str, Any] | None:
    """The recorded --queries-from of a store (label, kind, sha256, n, multi_turn_skipped), or None."""
    row = store.conn.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone()
    return json.loads(row[0]) if row else None


def query_source_of(store: Store) -> str | None:
    """"healthbench" or "file" when the store's queries came from a file, None for generated ones."""
    meta = stored_source(store)
    if meta is not None:
        return str(meta["kind"])
    row = store.conn.execute("SELECT attributes FROM queries ORDER BY id LIMIT 1").fetchone()
    attributes = json.loads(row[0] or "null") if row else None
    source = attributes.get("source") if isinstance(attributes, dict) else None
    return source if source in SOURCES else None


def check_source(store: Store, source: QuerySource | None) -> None:
    """Refuse, before any write, queries from a file for a store of generated queries or of another file."""
    if source is None:
        return
    meta = stored_source(store)
    if meta is None:
        if store.run_row() is not None or store.count("queries"):
            raise StoreError(f"{store.path} holds a run of generated queries; --queries-from needs a new --db")
        return
    if meta["sha256"] != source.sha256 or meta["n"] != source.n:
        raise StoreError(f"{store.path} holds {meta['n']} queries from {meta['label']}, not these {source.n} from "
                         f"{source.label}; pass the same file and --n, or a new --db")


def use_given_queries(store: Store, source: QuerySource | None, index: int, count: int) -> bool:
    """Place the shard's queries of `source` (ids i ≡ index mod count) that are not stored yet; True when the
    store runs queries from a file (given now or before), False for generated ones."""
    if source is None:
        return query_source_of(store) is not None
    rows = [(i, json.dumps(source.attributes(i)), source.queries[i]) for i in range(index, source.n, count)]
    with store.conn:
        store.conn.execute("BEGIN IMMEDIATE")
        store.conn.executemany("INSERT OR IGNORE INTO queries (id, attributes, query) VALUES (?, ?, ?)", rows)
        store.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                           (META_KEY, json.dumps(source.meta(), sort_keys=True)))
    return True


def summary(source: QuerySource) -> str:
    """One line for the run log: how many queries, from where, and what was skipped."""
    skipped = f", {source.multi_turn} multi-turn rows skipped" if source.multi_turn else ""
    return f"queries: {source.n} from {source.label} ({source.kind}{skipped})"
