"""Turn a store's stage rows into chat records, applying the filters, the gate and de-duplication as a stream.

Order per row: the run's own verdict, the paper's filters, the per-record gate (nodes.gate: truncated,
repetition, prompt_echo — so stores written before the gate existed are gated too), exact duplicates, then
the store-wide steps of `StoreGate` (benchmark_overlap, near_duplicate).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from nodes.gate.echo import EchoIndex, template_index
from nodes.gate.rules import gate_reason
from training.dataset.filters import assistant_content, dedup_key, drop_reason, split_think
from training.dataset.gate import GateOptions, StoreGate
from training.dataset.store import (
    STAGE_TABLE,
    Stage,
    StageRow,
    check_stage,
    damaged,
    iter_stage_rows,
    open_store,
    pick_teacher,
)
from training.dataset.usage import token_limits
from training.errors import InputError

ChatRecord = dict[str, Any]
CHUNK = 256  # rows whose queries' MinHash signatures are computed in one batch


@dataclass(frozen=True)
class Dropped:
    """A row left out of the dataset, and why (`store:<reason>` for rows the run itself did not keep)."""

    id: int
    reason: str


def chat_record(row_id: int, query: str, reasoning: str, answer: str) -> ChatRecord:
    """One training example: the user's query and the assistant turn `<think>reasoning</think>answer`."""
    return {
        "id": row_id,
        "messages": [
            {"role": "user", "content": query.strip()},
            {"role": "assistant", "content": assistant_content(reasoning, answer)},
        ],
    }


def classify(
    rows: Iterator[StageRow], gate: StoreGate | None = None, limits: Mapping[str, int] | None = None
) -> Iterator[ChatRecord | Dropped]:
    """Yield a chat record or a `Dropped` for every row, in order; keeps only one hash per record seen.

    `limits` are the run's max_tokens per call node, for rows stored without finish_reason."""
    seen: set[bytes] = set()
    echo = template_index()
    while chunk := list(islice(rows, CHUNK)):
        if gate is not None:
            gate.prepare([row.query for row in chunk if row.kept])
        for row in chunk:
            yield judge(row, gate, limits, echo, seen)


def judge(row: StageRow, gate: StoreGate | None, limits: Mapping[str, int] | None, echo: EchoIndex,
          seen: set[bytes]) -> ChatRecord | Dropped:
    """One row's record, or why it is left out; `seen` holds the exact-duplicate keys so far."""
    if not row.kept:
        return Dropped(row.id, f"store:{row.filter_reason or 'unspecified'}")
    reasoning, answer = split_think(row.reasoning, row.answer)
    reason = drop_reason(row.query, reasoning, answer)
    if reason is None and (gate is None or gate.options.rules):
        reason = gate_reason(row.query, reasoning, answer, row.calls, echo, limits)
    if reason is not None:
        return Dropped(row.id, reason)
    key = dedup_key(row.query, answer)
    if key in seen:
        return Dropped(row.id, "duplicate")
    seen.add(key)
    reason = gate.reason(row.query) if gate is not None else None
    return Dropped(row.id, reason) if reason is not None else chat_record(row.id, row.query, reasoning, answer)


def scan_records(db_path: str | Path, stage: Stage, gate: StoreGate | None = None,
                 teacher: str | None = None) -> Iterator[ChatRecord | Dropped]:
    """Validate the store for `stage`, then stream its rows through `classify` (`gate` None: the default gate;
    `teacher`: whose answers stage kd reads, when the store holds several)."""
    if stage not in STAGE_TABLE:
        raise InputError(f"unknown stage {stage!r} — use kd (teacher answers) or sr (self-refined answers)")
    conn = open_store(db_path)
    try:
        check_stage(conn, stage, db_path)
        name = pick_teacher(conn, teacher, db_path) if stage == "kd" else None
        yield from classify(iter_stage_rows(conn, stage, name), gate or StoreGate(GateOptions()), token_limits(conn))
    except sqlite3.DatabaseError as exc:
        raise damaged(db_path, exc) from None
    finally:
        conn.close()


def iter_chat_records(db_path: str | Path, stage: Stage, gate: StoreGate | None = None,
                      teacher: str | None = None) -> Iterator[ChatRecord]:
    """Yield the stage's training records `{"id", "messages"}` from a store, streaming.

    Only kept rows that pass the paper's filters and the gate, de-duplicated. Raises `InputError` (one-line message)
    for a missing, empty or foreign store, a missing stage table, or a stage that yields no record.
    """
    written = 0
    for item in scan_records(db_path, stage, gate, teacher):
        if isinstance(item, Dropped):
            continue
        written += 1
        yield item
    if written == 0:
        raise InputError(
            f"stage {stage}: store {db_path} has no kept row in `{STAGE_TABLE[stage]}` that passes the filters "
            "(answer of 50+ words with an answer part, and the data-quality gate) — nothing to train on; run more queries or check the "
            "run's filter settings"
        )
