"""Read-only access to a MuSeR run store (SQLite): validate it, then stream one stage's rows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from state.errors import InputError
from training.dataset.usage import stage_calls

Stage = Literal["kd", "sr"]
STAGES: tuple[Stage, ...] = ("kd", "sr")
STAGE_TABLE: dict[Stage, str] = {"kd": "teacher", "sr": "results"}
STAGE_COLUMNS: dict[Stage, tuple[str, ...]] = {
    "kd": ("id", "reasoning", "answer", "kept", "filter_reason"),
    "sr": (
        "id",
        "reasoning",
        "answer",
        "refined_reasoning",
        "refined_answer",
        "refined",
        "kept",
        "filter_reason",
    ),
}
MARKER_TABLES = ("queries", "runs")
HOW_TO_FILL = {
    "kd": "add teacher answers first: `python -m graph.run --db STORE --teacher-base-url URL`",
    "sr": "run the self-refinement stage of `python -m graph.run` on this store first",
}


@dataclass(frozen=True)
class StageRow:
    """One stored response for a stage, already mapped to the (q, reasoning, answer) the stage trains on."""

    id: int
    query: str
    reasoning: str
    answer: str
    kept: bool
    filter_reason: str | None
    calls: tuple[dict[str, Any], ...] = ()


def open_store(db_path: str | Path) -> sqlite3.Connection:
    """Open a store read-only and check it is a MuSeR store (has `queries` and `runs`); never creates a file."""
    path = Path(db_path)
    if path.is_dir():
        raise InputError(
            f"store {path} is a directory — pass --db with the SQLite file written by `python -m graph.run`"
        )
    if not path.is_file():
        raise InputError(
            f"store not found: {path} — pass --db with the SQLite file written by `python -m graph.run`"
        )
    if path.stat().st_size == 0:
        raise InputError(
            f"store {path} is an empty file — point --db at a store written by `python -m graph.run`"
        )
    if path.is_dir():
        raise InputError(
            f"store {path} is a directory — pass --db with the SQLite file written by `python -m graph.run`"
        )
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = _tables(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if "malformed" in str(exc):
            raise damaged(path, exc) from None
        raise InputError(f"{path} is not a SQLite database ({exc}) — pass --db with a MuSeR store") from None
    missing = [name for name in MARKER_TABLES if name not in tables]
    if missing:
        conn.close()
        raise InputError(
            f"{path} is not a MuSeR store (no {' or '.join(missing)} table) — pass --db with a store "
            "written by `python -m graph.run`"
        )
    return conn


def damaged(path: str | Path, exc: Exception) -> InputError:
    """The error for a store whose pages cannot be read (a valid header, corrupt content)."""
    return InputError(
        f"store {path} is damaged ({' '.join(str(exc).split())}) — restore it from a copy, or salvage the rows "
        f"with `sqlite3 {path} .recover | sqlite3 recovered.sqlite` and pass --db recovered.sqlite"
    )


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def check_stage(conn: sqlite3.Connection, stage: Stage, path: str | Path) -> None:
    """Fail early when the stage's table is absent, lacks columns, or is empty."""
    table = STAGE_TABLE[stage]
    if table not in _tables(conn):
        raise InputError(f"store {path} has no `{table}` table for stage {stage} — {HOW_TO_FILL[stage]}")
    have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    lacking = [col for col in STAGE_COLUMNS[stage] if col not in have]
    if lacking:
        raise InputError(
            f"store {path}: table `{table}` lacks column(s) {', '.join(lacking)} — the store was written by an "
            "incompatible version; re-run `python -m graph.run` into a new store"
        )
    if conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is None:
        raise InputError(f"store {path} has no rows in `{table}` for stage {stage} — {HOW_TO_FILL[stage]}")
    refuse_benchmark_queries(conn, path)


def refuse_benchmark_queries(conn: sqlite3.Connection, path: str | Path) -> None:
    """Evaluation data must never be trained on: refuse a store whose queries came from HealthBench
    (graph.run --queries-from), read from its meta row or, in a merged store, its first query's attributes."""
    tables = _tables(conn)
    kind = conn.execute("SELECT json_extract(value, '$.kind') FROM meta WHERE key = 'queries_from'").fetchone() \
        if "meta" in tables else None
    first = conn.execute("SELECT json_extract(attributes, '$.source') FROM queries WHERE json_valid(attributes) "
                         "ORDER BY id LIMIT 1").fetchone()
    if "healthbench" in ((kind or [None])[0], (first or [None])[0]):
        raise InputError(
            f"store {path} holds answers to HealthBench queries (graph.run --queries-from): evaluation data must "
            "never be trained on — build the dataset from a run of generated queries"
        )


def run_keys(conn: sqlite3.Connection) -> list[str]:
    """The run keys recorded in the store, for the data card's provenance."""
    return [row[0] for row in conn.execute("SELECT run_key FROM runs ORDER BY run_key")]


def teacher_names(conn: sqlite3.Connection) -> list[str]:
    """The teachers whose answers the store holds; a version-1 store (no `teacher` column) holds only the
    run's configured teacher, named by its model when the config named one, else ""."""
    if "teacher" not in {row[1] for row in conn.execute("PRAGMA table_info(teacher)")}:
        row = conn.execute("SELECT config FROM runs LIMIT 1").fetchone()
        section = json.loads(row[0]).get("teacher") if row and row[0] else None
        return [str((section or {}).get("model") or "")]
    return [row[0] for row in conn.execute("SELECT DISTINCT teacher FROM teacher ORDER BY 1")]


def pick_teacher(conn: sqlite3.Connection, wanted: str | None, path: str | Path) -> str:
    """The teacher whose answers stage kd uses: `wanted`, or the only one; InputError naming them otherwise."""
    names = teacher_names(conn)
    shown = ", ".join(repr(n) for n in names)
    if wanted is None:
        if len(names) > 1:
            raise InputError(f"store {path} holds answers from {len(names)} teachers ({shown}) — pick one with --teacher NAME")
        return names[0] if names else ""
    if wanted not in names:
        raise InputError(f"store {path} has no answers from teacher {wanted!r} (it holds: {shown or 'none'}) — "
                         "pass one of those to --teacher")
    return wanted


def iter_stage_rows(conn: sqlite3.Connection, stage: Stage, teacher: str | None = None) -> Iterator[StageRow]:
    """Stream the stage's rows in id order (a cursor, so the store is never loaded into memory).

    Stage sr trains on (q, t', r'); a row the refiner skipped (`refined = 0`, every facet N/A) may leave
    t'/r' empty, and then falls back to t0/r0, as the method defines r' = r0 in that case. Stage kd reads
    the answers of `teacher` (see `pick_teacher`), or every teacher row when None or in a version-1 store.
    """
    usage = _usage_column(conn, STAGE_TABLE[stage])
    if stage == "kd":
        tagged = teacher is not None and "teacher" in {row[1] for row in conn.execute("PRAGMA table_info(teacher)")}
        where = "WHERE t.teacher = ? " if tagged else ""
        sql = (
            f"SELECT t.id, q.query, t.reasoning, t.answer, t.kept, t.filter_reason, {usage} "
            f"FROM teacher t JOIN queries q ON q.id = t.id {where}ORDER BY t.id"
        )
        for rid, query, reasoning, answer, kept, reason, used in conn.execute(sql, (teacher,) if tagged else ()):
            calls = stage_calls(stage, used)
            yield StageRow(rid, query or "", reasoning or "", answer or "", bool(kept), reason, calls)
        return
    sql = (
        "SELECT r.id, q.query, r.reasoning, r.answer, r.refined_reasoning, r.refined_answer, r.refined, "
        f"r.kept, r.filter_reason, {usage} FROM results r JOIN queries q ON q.id = r.id ORDER BY r.id"
    )
    for rid, query, t0, r0, t1, r1, refined, kept, reason, used in conn.execute(sql):
        skipped = not refined
        reasoning = t1 if (t1 or not skipped) else t0
        answer = r1 if (r1 or not skipped) else r0
        calls = stage_calls(stage, used)
        yield StageRow(rid, query or "", reasoning or "", answer or "", bool(kept), reason, calls)


def _usage_column(conn: sqlite3.Connection, table: str) -> str:
    """The usage column's SQL, or NULL for a store written without one (its rows are gated on their text)."""
    have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    return f"{table[0]}.usage" if "usage" in have else "NULL"
