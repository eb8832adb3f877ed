"""`python -m eval.compare a.sqlite b.sqlite …`: runs side by side, shaped like the paper's ablation tables.

Rows are stores (one per policy), columns Full, Hard, Consensus and the five axes (axes from the Full run).
A store's scores are its latest finished run per subset, or the runs picked with PATH@ID; a second table
gives each run's n, failures and grading setup. Runs graded differently are refused unless
--allow-mixed-graders is given. With two or more stores, each later one is also paired with the first on
the examples both scored: the difference, a paired bootstrap 95% CI, and how many went up / down / stayed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from eval.batch.store import EvalStore, StoreError
from eval.grading.setup import describe
from eval.options import PLOT_FILES
from eval.reports.differences import markdown as per_example
from eval.reports.paired import paired_section
from eval.reports.table import (
    INCOMPLETE,
    SAMPLE,
    grading_conflicts,
    grading_of,
    markdown_table,
    runs_table,
)
from state.paths import clobbered_input, files_in


def parse_spec(spec: str) -> tuple[Path, list[int] | None]:
    """A positional store: PATH, or PATH@ID[,ID…] to pick the runs shown (one per subset)."""
    if Path(spec).exists() or "@" not in spec:
        return Path(spec), None
    path, _, ids = spec.rpartition("@")
    try:
        chosen = [int(i) for i in ids.split(",")]
    except ValueError:
        raise StoreError(f"{spec!r}: after @ give run ids such as @3 or @3,5 (see --list)") from None
    return Path(path), chosen


def stored_runs(path: Path) -> list[dict[str, Any]]:
    store = EvalStore(path, create=False)
    try:
        return store.finished_runs()
    finally:
        store.close()


def pick_runs(
    path: Path, ids: list[int] | None = None, grader: str | None = None
) -> dict[str, dict[str, Any]]:
    """{subset: run} in one store: the runs with the given ids, else the latest finished one per subset."""
    runs = stored_runs(path)
    if ids is not None:
        by_id = {run["id"]: run for run in runs}
        chosen: dict[str, dict[str, Any]] = {}
        for run_id in ids:
            run = by_id.get(run_id)
            if run is None:
                raise StoreError(
                    f"--db {path} has no finished run {run_id}; see python -m eval.compare --list"
                )
            if run["subset"] in chosen:
                raise StoreError(
                    f"--db {path}: runs {chosen[run['subset']]['id']} and {run_id} are both {run['subset']}; "
                    "pick one run per subset"
                )
            chosen[run["subset"]] = run
        return chosen
    chosen = {}
    for run in runs:
        if grader is None or run["grader"] == grader:
            chosen[run["subset"]] = run
    if not chosen:
        by = f" graded by {grader!r}" if grader else ""
        raise StoreError(
            f"--db {path} has no finished evaluation{by}; run python -m eval.healthbench --db {path} first"
        )
    return chosen


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "dbs",
        nargs="+",
        help="stores written by eval.healthbench, one per row; PATH@ID[,ID] picks runs (see --list)",
    )
    p.add_argument("--labels", nargs="+", help="row names, one per db (default: the db file names)")
    p.add_argument(
        "--grader", help="only use runs graded by this grader model (default: each store's latest)"
    )
    p.add_argument(
        "--allow-mixed-graders",
        action="store_true",
        help="show runs graded with different setups in one table (default: refuse, naming the differences)",
    )
    p.add_argument("--list", action="store_true", help="list every finished run of each store and exit")
    p.add_argument(
        "--out", type=Path, help="markdown file to write (default: compare.md beside the first db)"
    )
    p.add_argument(
        "--plots", type=Path, help="write side-by-side axes.png and themes.png into this directory"
    )
    return p


def list_runs(paths: list[Path]) -> str:
    """Every finished run of each store, one line each, for choosing runs with PATH@ID."""
    lines = []
    for path in paths:
        runs = stored_runs(path)
        if not runs:
            lines.append(f"{path}: no finished run yet (run or resume python -m eval.healthbench --db {path} until it "
                         "exits 0)")
        for run in runs:
            report = run["report"]
            n = report["n_samples"].get("overall_score", 0)
            score = report.get("score")
            shown = "–" if score is None else f"{100 * score:.1f}"
            lines.append(
                f"{path}@{run['id']}  {run['subset']:<9} {run['data']}  score {shown}  n {n}  "
                f"{run['started']}  {describe(grading_of(run))}"
            )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the tables and write them; exit 2 on a missing, foreign or empty store or mixed grading."""
    parser = build_parser()
    args = parser.parse_args(argv)
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    try:
        specs = [parse_spec(spec) for spec in args.dbs]
        clash = clobbered_input(
            [("--out", args.out or specs[0][0].parent / "compare.md"), *files_in("--plots", args.plots or "", PLOT_FILES if args.plots else ())],
            [("db", path) for path, _ in specs],
        )
        if clash:
            raise StoreError(clash)
        if args.list:
            print(list_runs([path for path, _ in specs]), end="")
            return 0
        labels = args.labels or [path.stem for path, _ in specs]
        if len(labels) != len(specs):
            parser.error(f"--labels gives {len(labels)} names for {len(specs)} dbs")
        rows = [
            (label, pick_runs(path, ids, args.grader))
            for label, (path, ids) in zip(labels, specs, strict=True)
        ]
    except StoreError as exc:
        err.print(f"error: {exc}", markup=False)
        return 2
    conflicts = grading_conflicts(rows)
    if conflicts and not args.allow_mixed_graders:
        err.print(
            "error: the runs were graded differently ("
            + "; ".join(conflicts)
            + "); regrade them alike, pick runs with PATH@ID, or pass --allow-mixed-graders",
            markup=False,
        )
        return 2
    for line in conflicts:
        err.print(f"warning: graded differently: {line}", markup=False)
    legend = f"\n{INCOMPLETE} incomplete run, {SAMPLE} --n sample; details below.\n\n"
    table = markdown_table(rows) + legend + runs_table(rows) + paired_section(rows) + per_example(rows)
    print(table, end="")
    out = args.out or specs[0][0].parent / "compare.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table, encoding="utf-8")
    err.print(f"table written to {escape(str(out))}")
    if args.plots:
        from eval.reports.plots import PlotError, plot_runs

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
