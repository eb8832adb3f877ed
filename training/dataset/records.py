"""Turn a store's stage rows into chat records, applying the filters, the gate and de-duplication as a stream.

Order per row: the run's own verdict, the per-record rules of nodes/gate/rules.py in their order and with the
run's settings (so stores written before a rule existed are judged by it too), exact duplicates, then the
store-wide steps of `StoreGate` (benchmark_overlap, near_duplicate). What a row's text decides alone is
judged in `training.dataset.verdicts`, a chunk at a time (`training.dataset.workers`: in worker processes
for a large store).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodes.gate.truncation import truncated
from state.errors import InputError
from training.dataset.filters import assistant_content, split_think
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
from training.dataset.verdicts import Verdicts
from training.dataset.workers import judged

ChatRecord = dict[str, Any]


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


def classify(rows: Iterator[StageRow], gate: StoreGate) -> Iterator[ChatRecord | Dropped]:
    """Yield a chat record or a `Dropped` for every row, in order; keeps only one hash per record seen.

    Each row's own verdict comes from `training.dataset.verdicts` (in `training.dataset.workers` past the first
    rows when the gate has workers); what depends on earlier rows is decided here, in id order."""
    seen: set[bytes] = set()
    for chunk, verdicts in judged(rows, gate.row_judge(), gate.options.workers):
        at = 0
        for row in chunk:
            if not row.kept:
                yield Dropped(row.id, f"store:{row.filter_reason or 'unspecified'}")
                continue
            yield decide(row, verdicts, at, gate, seen)
            at += 1


def decide(row: StageRow, verdicts: Verdicts, at: int, gate: StoreGate, seen: set[bytes]) -> ChatRecord | Dropped:
    """A kept row's record, or why it is left out, from its verdict (`verdicts`, position `at`): the gate's
    rules in their order (`truncated` read here from the stored calls), exact duplicate, benchmark overlap,
    near duplicate."""
    cut = truncated(row.calls, gate.settings.limits) if gate.options.rules else None
    reason = verdicts.before[at] or cut or verdicts.after[at]
    if reason is not None:
        return Dropped(row.id, reason)
    key = verdicts.keys[at]
    if key in seen:
        return Dropped(row.id, "duplicate")
    seen.add(key)
    reason = gate.reason(verdicts, at)
    if reason is not None:
        return Dropped(row.id, reason)
    reasoning, answer = split_think(row.reasoning, row.answer)
    return chat_record(row.id, row.query, reasoning, answer)


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
        yield from classify(iter_stage_rows(conn, stage, name), gate or StoreGate.for_store(db_path, GateOptions()))
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
            f"stage {stage}: store {db_path} has no kept row in `{STAGE_TABLE[stage]}` that passes the gate — "
            "nothing to train on; run more queries, or see why with python -m graph.report"
        )
