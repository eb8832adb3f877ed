"""One store → one report dict (every figure report.json holds), in one read snapshot."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from graph.report import collect, usage
from graph.report.source import open_store

DEFAULT_TOP = 8


def build_report(conn: sqlite3.Connection, db: str, top: int = DEFAULT_TOP, price_in: float | None = None,
                 price_out: float | None = None) -> dict[str, Any]:
    """Every figure of the report, from SQL aggregates over an open (read-only) store."""
    run = collect.run_info(conn)
    out = collect.outcome(conn, run.get("n"))
    facets = collect.facets(conn, top)
    order = [f for f in run["facets"] if f in facets] + [f for f in facets if f not in run["facets"]]
    return {
        "db": db,
        "run": run,
        "outcome": out,
        "facets": {f: facets[f] for f in order},
        "context": collect.context(conn),
        "refinement": usage.refinement(conn),
        "cost": usage.cost(conn, out["kept"]["k"], price_in, price_out),
        "teacher": usage.teacher(conn, price_in, price_out),
    }


def report_for(db: str | Path, top: int = DEFAULT_TOP, price_in: float | None = None,
               price_out: float | None = None) -> dict[str, Any]:
    """Open `db` read-only, build its report, close it."""
    conn = open_store(db)
    try:
        return build_report(conn, str(db), top, price_in, price_out)
    finally:
        conn.close()
