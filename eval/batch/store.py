"""SQLite store of one policy's evaluation: responses, per-item grades, failures and runs.

Written as the run goes, so a killed evaluation resumes where it stopped; grades are keyed by grader
model and a hash of the exact grader prompt, so regrading with another grader (or another subset whose
rubric differs) reuses the responses but never a grade that does not apply.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlite_utils

KIND = "muser-healthbench"
SCHEMA_VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS responses(prompt_id TEXT PRIMARY KEY, prompt_hash TEXT, response TEXT, reasoning TEXT,
    model TEXT, source TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, latency_ms REAL, created TEXT);
CREATE TABLE IF NOT EXISTS grades(grader TEXT, fingerprint TEXT, prompt_id TEXT, item INTEGER, criteria_met INTEGER,
    explanation TEXT, attempts INTEGER, created TEXT, PRIMARY KEY (grader, fingerprint));
CREATE TABLE IF NOT EXISTS failures(stage TEXT, key TEXT, prompt_id TEXT, item INTEGER, model TEXT, error TEXT,
    attempts INTEGER, created TEXT, PRIMARY KEY (stage, key));
CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY, started TEXT, finished TEXT, data TEXT, subset TEXT,
    policy TEXT, grader TEXT, config TEXT, report TEXT);
"""


class StoreError(ValueError):
    """A --db file that cannot be used; the file is left untouched. str() is one line."""


def digest(text: str) -> str:
    """Short stable hash used to tie stored rows to the exact prompt they answer."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def grade_key(grader: str, fingerprint: str) -> str:
    """The failures-table key of one grade."""
    return f"{grader}\x00{fingerprint}"


@dataclass(frozen=True)
class StoredResponse:
    """A policy answer as stored: text, the prompt it answers, and who wrote it."""

    response: str
    prompt_hash: str
    model: str


@dataclass(frozen=True)
class ResponseRow:
    """One answer to store; prompt_hash ties it to the exact conversation it answers."""

    prompt_id: str
    prompt_hash: str
    response: str
    model: str
    source: str  # "policy" (called here) or "file" (--responses)
    reasoning: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    created: str = field(default_factory=now)


@dataclass(frozen=True)
class GradeRow:
    """One rubric item's verdict; fingerprint is the digest of the full grader prompt."""

    grader: str
    fingerprint: str
    prompt_id: str
    item: int
    criteria_met: bool
    explanation: str
    attempts: int
    created: str = field(default_factory=now)


@dataclass(frozen=True)
class FailureRow:
    """Why a response (stage "policy", key prompt_id) or a grade (stage "grade") could not be obtained."""

    stage: str
    key: str
    prompt_id: str
    item: int
    model: str
    error: str
    attempts: int
    created: str = field(default_factory=now)


def check_file(path: Path) -> None:
    """Refuse (without writing) a file that is not SQLite, is corrupt, or belongs to something else."""
    if not path.exists() or path.stat().st_size == 0:
        return
    if path.is_dir():
        raise StoreError(f"--db {path} is a directory; give a file path such as evals/model.sqlite")
    with path.open("rb") as fh:
        if fh.read(16) != SQLITE_MAGIC:
            raise StoreError(f"--db {path} is not a SQLite file; pass a new path (the file was not changed)")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall()) if "meta" in tables else {}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"--db {path} is a corrupt SQLite file ({exc}); pass a new path (the file was not changed)"
        ) from None
    if tables and meta.get("kind") != KIND:
        raise StoreError(
            f"--db {path} belongs to something else (tables: {', '.join(sorted(tables))}); "
            "pass a path for HealthBench results (the file was not changed)"
        )
    if tables and int(meta.get("schema", "0")) > SCHEMA_VERSION:
        raise StoreError(
            f"--db {path} was written by a newer version (schema {meta['schema']}); upgrade muser-graph"
        )


class EvalStore:
    """The evaluation store for one --db path; opening validates the file before changing anything."""

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        """create=False opens an existing store read-only (for reports), never writing to it."""
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise StoreError(
                f"--db {self.path} does not exist; run python -m eval.healthbench with --db first"
            )
        check_file(self.path)
        if not create:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            self.db = sqlite_utils.Database(conn)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        meta = self.db.table("meta")
        meta.upsert({"key": "kind", "value": KIND}, pk="key")
        meta.upsert({"key": "schema", "value": str(SCHEMA_VERSION)}, pk="key")

    def close(self) -> None:
        self.db.close()

    # -- responses ---------------------------------------------------------------------------------
    def responses(self) -> dict[str, StoredResponse]:
        rows = self.db.execute("SELECT prompt_id, response, prompt_hash, model FROM responses").fetchall()
        return {r[0]: StoredResponse(r[1], r[2], r[3]) for r in rows}

    def put_response(self, row: ResponseRow) -> None:
        self.db.table("responses").upsert(asdict(row), pk="prompt_id")
        self.clear_failure("policy", row.prompt_id)

    # -- grades ------------------------------------------------------------------------------------
    def grades(self, grader: str) -> dict[str, tuple[bool, str]]:
        """{fingerprint: (criteria_met, explanation)} of every grade by `grader`."""
        sql = "SELECT fingerprint, criteria_met, explanation FROM grades WHERE grader = ?"
        return {r[0]: (bool(r[1]), r[2]) for r in self.db.execute(sql, [grader]).fetchall()}

    def put_grade(self, row: GradeRow) -> None:
        self.db.table("grades").upsert(asdict(row), pk=("grader", "fingerprint"))
        self.clear_failure("grade", grade_key(row.grader, row.fingerprint))

    # -- failures ----------------------------------------------------------------------------------
    def put_failure(self, row: FailureRow) -> None:
        """Record a failure; a later success for the same key deletes the row."""
        self.db.table("failures").upsert(asdict(row), pk=("stage", "key"))

    def clear_failure(self, stage: str, key: str) -> None:
        with self.db.conn:
            self.db.execute("DELETE FROM failures WHERE stage = ? AND key = ?", [stage, key])

    # -- runs --------------------------------------------------------------------------------------
    def start_run(self, *, data: str, subset: str, policy: str, grader: str, config: dict[str, Any]) -> int:
        """Record the resolved settings of one invocation; returns the run id."""
        table = self.db.table("runs")
        settings = json.dumps(config, sort_keys=True)
        row = {"started": now(), "data": data, "subset": subset, "policy": policy, "grader": grader}
        table.insert({**row, "config": settings})
        return int(table.last_pk)  # type: ignore[arg-type]

    def finish_run(self, run_id: int, report: dict[str, Any]) -> None:
        self.db.table("runs").update(run_id, {"finished": now(), "report": json.dumps(report)})

    def finished_runs(self) -> list[dict[str, Any]]:
        """Finished runs, oldest first, with their report and config decoded."""
        if not self.db.table("runs").exists():
            return []
        keys = ("id", "started", "finished", "data", "subset", "policy", "grader", "config", "report")
        sql = f"SELECT {', '.join(keys)} FROM runs WHERE report IS NOT NULL ORDER BY id"
        out = [dict(zip(keys, row, strict=True)) for row in self.db.execute(sql).fetchall()]
        for run in out:
            run["report"] = json.loads(run["report"])
            run["config"] = json.loads(run["config"] or "{}")
        return out
