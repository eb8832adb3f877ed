"""The run store: one SQLite file (WAL) per run or shard, written in batches.

Tables (documented in the README): runs, queries, results, teacher, teachers, failures, meta. Every query id
ends in exactly one of results or failures; a query row is written in the same transaction as its
outcome, so a kill at any moment leaves only whole items behind.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import sqlite_utils

from graph.store.migrate import upgrade

APP_ID = 0x4D755352  # "MuSR", stored in PRAGMA application_id
SCHEMA_VERSION = 2  # 2: teacher rows keyed by (id, teacher); the teachers table (graph/store/migrate.py)

SCHEMA: dict[str, dict[str, type]] = {
    "runs": {"run_key": str, "config": str, "seed": int, "n": int, "shard": str, "version": str, "created": str},
    "queries": {"id": int, "attributes": str, "query": str},
    "results": {
        "id": int, "reasoning": str, "answer": str, "rationales": str, "refined_reasoning": str,
        "refined_answer": str, "refined": int, "kept": int, "filter_reason": str, "usage": str, "latency_ms": float,
        "facet_raw": str,
    },
    "teacher": {"id": int, "teacher": str, "reasoning": str, "answer": str, "kept": int, "filter_reason": str, "usage": str, "latency_ms": float},
    "teachers": {"teacher": str, "model": str, "base_urls": str, "sampling": str, "created": str},
    "failures": {"id": int, "stage": str, "error_class": str, "message": str, "attempts": int},
    "meta": {"key": str, "value": str},
}
PKS: dict[str, str | tuple[str, ...]] = {"runs": "run_key", "meta": "key", "teacher": ("id", "teacher"), "teachers": "teacher"}
JSON_COLUMNS = frozenset({"config", "attributes", "rationales", "usage", "facet_raw"})
ITEM_TABLES = ("queries", "results", "teacher", "failures")


class StoreError(RuntimeError):
    """A store that cannot be used as asked; str() is one line naming the file and the fix."""


def package_version() -> str:
    try:
        return version("muser-graph")
    except PackageNotFoundError:  # running from a source tree without install
        return "0+source"


def _insert_sql(table: str, replace: bool = True) -> str:
    cols = list(SCHEMA[table])
    verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
    return f"{verb} INTO [{table}] ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"


class Store:
    """A MuSeR store on disk. Open with Store.open(path, create=...)."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self._pending: dict[str, list[tuple[Any, ...]]] = {t: [] for t in ITEM_TABLES}
        self._pending_deletes: list[int] = []
        self._sql = {t: _insert_sql(t) for t in ITEM_TABLES}

    # -- opening -----------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, create: bool = False) -> Store:
        """Open (or with create=True, make) a store; a foreign, corrupt or unusable path is refused untouched."""
        path = Path(path)
        if path.is_dir():
            raise StoreError(f"{path} is a directory; pass a file path for the store, e.g. {path / 'run.sqlite'}")
        present = path.exists()
        exists = present and path.stat().st_size > 0
        if not exists and not create:
            raise StoreError(f"{path} does not exist; check the --db path (python -m graph.run --n N --db {path} makes a store)")
        if exists:
            cls._check_header(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open {path} ({exc}); pass a --db in a writable directory") from None
        try:
            if exists:
                app = conn.execute("PRAGMA application_id").fetchone()[0]
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if app != APP_ID or not {"runs", "queries"} <= tables:
                    raise StoreError(f"{path} is an SQLite file but not a MuSeR store; pass a new --db path")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            store = cls(path, conn)
            if not exists:
                store._create()
            else:
                upgrade(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            if not present:  # a store this call began (e.g. in a read-only directory) is not left half-made
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
            if isinstance(exc, sqlite3.OperationalError):  # cannot open or write: permissions, read-only place
                fix = "check that the file and its directory are writable, or pass another --db path"
            else:
                fix = "it may be corrupt: restore it from a copy or pass another --db path"
            raise StoreError(f"{path} cannot be {'read' if exists else 'created'} ({exc}); {fix}") from None
        except StoreError:
            conn.close()
            raise
        return store

    @staticmethod
    def _check_header(path: Path) -> None:
        try:
            with path.open("rb") as fh:
                head = fh.read(16)
        except OSError as exc:
            raise StoreError(f"cannot read {path} ({exc.strerror}); check its permissions or pass another --db") from None
        if head != b"SQLite format 3\x00":
            raise StoreError(f"{path} is not an SQLite database (it may be corrupt or another kind of file); pass another --db path")

    def _create(self) -> None:
        with self.db.conn:
            for table, cols in SCHEMA.items():
                self.db[table].create(cols, pk=PKS.get(table, "id"), if_not_exists=True)  # type: ignore[union-attr]
            self.conn.execute(f"PRAGMA application_id={APP_ID}")
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        self.flush()
        self.conn.close()

    # -- the run row -------------------------------------------------------------------------------
    def run_row(self) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT run_key, config, seed, n, shard, version, created FROM runs LIMIT 1").fetchone()
        if row is None:
            return None
        keys = list(SCHEMA["runs"])
        out = dict(zip(keys, row, strict=True))
        out["config"] = json.loads(out["config"])
        return out

    def write_run(self, config: dict[str, Any], seed: int, n: int, shard: str | None) -> None:
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("DELETE FROM runs")
            self.conn.execute(
                _insert_sql("runs"),
                ("run", json.dumps(config, sort_keys=True), seed, n, shard or "", package_version(), created),
            )

    # -- items -------------------------------------------------------------------------------------
    def add(self, table: str, row: tuple[Any, ...]) -> None:
        """Queue one row; written at the next flush()."""
        self._pending[table].append(row)

    def add_queries(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert pre-generated queries now; an id that already has one keeps it."""
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.executemany(_insert_sql("queries", replace=False), rows)

    def clear_failure(self, item_id: int) -> None:
        """Queue removal of an id's failure row (retry succeeded)."""
        self._pending_deletes.append(item_id)

    def pending_rows(self) -> int:
        return sum(len(rows) for rows in self._pending.values())

    def flush(self) -> float:
        """Write every queued row in one transaction; returns the seconds it took."""
        if not self.pending_rows() and not self._pending_deletes:
            return 0.0
        t0 = time.perf_counter()
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            if self._pending_deletes:
                self.conn.executemany("DELETE FROM failures WHERE id = ?", [(i,) for i in self._pending_deletes])
            for table in ITEM_TABLES:
                rows = self._pending[table]
                if rows:
                    self.conn.executemany(self._sql[table], rows)
        for rows in self._pending.values():
            rows.clear()
        self._pending_deletes.clear()
        return time.perf_counter() - t0

    def _ids(self, table: str, start: int, chunk: int = 10_000) -> Iterator[int]:
        """Ids of one table from `start`, ascending, in short queries (no long-lived read cursor)."""
        while True:
            batch = [r[0] for r in self.conn.execute(
                f"SELECT id FROM [{table}] WHERE id >= ? ORDER BY id LIMIT ?", (start, chunk))]
            yield from batch
            if len(batch) < chunk:
                return
            start = batch[-1] + 1

    def done_ids(self, start: int = 0) -> Iterator[int]:
        """Ids with an outcome (result or failure), ascending, streamed in chunks from the primary keys."""
        return heapq.merge(self._ids("results", start), self._ids("failures", start))

    def failed_ids(self) -> Iterator[int]:
        return self._ids("failures", 0)

    def stored_query(self, item_id: int) -> tuple[str, str] | None:
        """(query, attributes JSON) already stored for an id: pre-generated by graph.queries --db, or kept
        from a failed graph."""
        row = self.conn.execute("SELECT query, attributes FROM queries WHERE id = ?", (item_id,)).fetchone()
        return (row[0], row[1]) if row and row[0] else None

    def count(self, table: str, where: str = "") -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM [{table}] {where}").fetchone()[0])

    def trace(self, item_id: int) -> dict[str, Any] | None:
        """Everything stored for one id, with JSON columns decoded (for graph.trace --db)."""
        out: dict[str, Any] = {"id": item_id}
        for table in ITEM_TABLES:
            cur = self.conn.execute(f"SELECT * FROM [{table}] WHERE id = ?", (item_id,))
            row = cur.fetchone()
            if row is not None:
                cols = [d[0] for d in cur.description]
                out[table] = {c: (json.loads(v) if c in JSON_COLUMNS and v else v) for c, v in zip(cols, row, strict=True)}
        return out if len(out) > 1 else None
