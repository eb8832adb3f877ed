"""One store → one report dict (every figure report.json holds), in one read snapshot."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from graph.report import collect, examples, usage
from graph.report.source import open_store

DEFAULT_TOP = 8


def build_report(conn: sqlite3.Connection, db: str, top: int = DEFAULT_TOP, price_in: float | None = None,
                 price_out: float | None = None, n_examples: int = 0) -> dict[str, Any]:
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
        "examples": examples.collect(conn, n_examples, run.get("seed") or 0, run.get("refiner")),
    }


def report_for(db: str | Path, top: int = DEFAULT_TOP, price_in: float | None = None,
               price_out: float | None = None, n_examples: int = 0) -> dict[str, Any]:
    """Open `db` read-only, build its report (with a seeded sample of `n_examples` items), close it."""
    conn = open_store(db)
    try:
        return build_report(conn, str(db), top, price_in, price_out, n_examples)
    finally:
        conn.close()
