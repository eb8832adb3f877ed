"""`python -m eval.compare a.sqlite b.sqlite …`: runs side by side, shaped like the paper's ablation tables.

Rows are stores (one per policy), columns Full, Hard and the five axes (axes from the Full run). A store's
Full and Hard scores are its latest finished runs labelled full and hard: `eval.healthbench` labels a run
hard when its data file name contains "hard" (or when given --subset hard), so grade the hard file into
the same --db as the main one; its responses are reused because the hard prompts are main-set prompts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from eval.report import AXIS_KEYS, pretty
from eval.store import EvalStore, StoreError


def latest_runs(path: Path, grader: str | None = None) -> dict[str, dict[str, Any]]:
    """{subset: latest finished run} in one store, optionally only runs graded by `grader`."""
    store = EvalStore(path, create=False)
    try:
        runs = store.finished_runs()
    finally:
        store.close()
    chosen: dict[str, dict[str, Any]] = {}
    for run in runs:
        if grader is None or run["grader"] == grader:
            chosen[run["subset"]] = run
    if not chosen:
        by = f" graded by {grader!r}" if grader else ""
        raise StoreError(
            f"--db {path} has no finished evaluation{by}; run python -m eval.healthbench --db {path} first"
        )
    return chosen


def _pct(run: dict[str, Any] | None, key: str) -> str:
    value = None if run is None else run["report"]["metrics"].get(key)
    return "–" if value is None else f"{100 * value:.1f}"


def markdown_table(rows: Sequence[tuple[str, dict[str, dict[str, Any]]]]) -> str:
    """Markdown with one row per labelled store: Full | Hard | five axes, in percent."""
    header = ["Run", "Full", "Hard", *(pretty(k).capitalize() for k in AXIS_KEYS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for label, runs in rows:
        full, hard = runs.get("full"), runs.get("hard")
        cells = [
            label.replace("|", "\\|"),
            _pct(full, "overall_score"),
            _pct(hard, "overall_score"),
            *(_pct(full, key) for key in AXIS_KEYS),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "dbs", nargs="+", type=Path, help="evaluation stores written by eval.healthbench, one per run"
    )
    p.add_argument("--labels", nargs="+", help="row names, one per db (default: the db file names)")
    p.add_argument(
        "--grader", help="only use runs graded by this grader model (default: each store's latest)"
    )
    p.add_argument(
        "--out", type=Path, help="markdown file to write (default: compare.md beside the first db)"
    )
    p.add_argument(
        "--plots", type=Path, help="write side-by-side axes.png and themes.png into this directory"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table and write it; exit 2 on a missing, foreign or empty store."""
    parser = build_parser()
    args = parser.parse_args(argv)
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    labels = args.labels or [db.stem for db in args.dbs]
    if len(labels) != len(args.dbs):
        parser.error(f"--labels gives {len(labels)} names for {len(args.dbs)} dbs")
    try:
        rows = [(label, latest_runs(db, args.grader)) for label, db in zip(labels, args.dbs, strict=True)]
    except StoreError as exc:
        err.print(f"error: {exc}", markup=False)
        return 2
    graders = sorted({run["grader"] for _, runs in rows for run in runs.values()})
    if len(graders) > 1:
        err.print(
            "warning: the runs were graded by different graders ("
            + escape(", ".join(graders))
            + "); pass --grader to compare like with like"
        )
    table = markdown_table(rows)
    print(table, end="")
    out = args.out or args.dbs[0].parent / "compare.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table, encoding="utf-8")
    err.print(f"table written to {escape(str(out))}")
    if args.plots:
        from eval.plots import PlotError, plot_runs

        reports = {label: runs["full"]["report"] for label, runs in rows if "full" in runs}
        try:
            paths = plot_runs(reports, args.plots)
        except PlotError as exc:
            err.print(f"error: {exc}", markup=False)
            return 2
        err.print("plots written: " + escape(", ".join(str(p) for p in paths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
