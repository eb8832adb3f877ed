"""Open a run store for reading only: SQLite URI mode=ro, one snapshot, the report's SQL functions.

A store that graph.run is still writing (WAL) is read at the snapshot of the first query; nothing is
ever written to it.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from urllib.parse import quote

from graph.report.figures import asks_question, opening
from nodes.gate.text import count_words

APP_ID = 0x4D755352  # graph.store's PRAGMA application_id ("MuSR")
NEEDED = {"runs", "queries", "results", "failures"}


class ReportError(RuntimeError):
    """A store that cannot be reported on; str() is one line naming the file and the fix."""


def open_store(path: str | Path) -> sqlite3.Connection:
    """A read-only connection inside one read transaction, with words()/asks()/opening() registered."""
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path} does not exist or is not a file; pass the --db of a graph.run store")
    with path.open("rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise ReportError(f"{path} is not an SQLite database; pass the --db of a graph.run store")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("BEGIN")  # one snapshot for every figure, even while graph.run writes
        app = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise ReportError(f"{path} cannot be read ({exc}); pass the --db of a graph.run store") from None
    if app != APP_ID or not tables >= NEEDED:
        conn.close()
        raise ReportError(f"{path} is an SQLite file but not a MuSeR run store; pass the --db of a graph.run store")
    _register(conn)
    return conn


def _register(conn: sqlite3.Connection) -> None:
    conn.create_function("words", 1, count_words, deterministic=True)
    conn.create_function("asks", 1, lambda t: int(asks_question(t)), deterministic=True)
    conn.create_function("opening", 1, opening, deterministic=True)
    try:
        conn.execute("SELECT ln(1)").fetchone()
    except sqlite3.OperationalError:  # SQLite built without its math functions
        conn.create_function("ln", 1, math.log, deterministic=True)


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None
