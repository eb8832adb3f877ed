"""python -m graph.report: what the self-refinement did in a graph.run store, at a glance.

  python -m graph.report --db runs/main.sqlite                       # summary + report/ (json, html, plots)
  python -m graph.report --db runs/main.sqlite --out reports/main --price-in 0.2 --price-out 0.6
  python -m graph.report --db runs/directref.sqlite --compare runs/contgen.sqlite
  python -m graph.report --db runs/main.sqlite --examples 200          # 200 items in full in report.html

The store is opened read-only (one snapshot; a store graph.run is still writing is fine) and read
with SQL aggregates, so memory does not grow with the number of results; the examples are read by id.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from graph.cli import fail, run_cli
from graph.report.build import DEFAULT_TOP, report_for
from graph.report.examples import DEFAULT_EXAMPLES, MAX_EXAMPLES
from graph.report.source import ReportError
from state.paths import clobbered_input, files_in


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m graph.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="The graph.run store to report on (read only).")
    parser.add_argument("--out", type=Path, default=Path("report"),
                        help="Directory for report.json, report.html and the PNG plots (default: report/).")
    parser.add_argument("--compare", help="A second store whose tables are shown side by side (e.g. ContGen vs DirectRef).")
    parser.add_argument("--price-in", type=float, help="USD per million prompt tokens, for the cost estimate.")
    parser.add_argument("--price-out", type=float, help="USD per million completion tokens, for the cost estimate.")
    parser.add_argument("--top", type=int, default=DEFAULT_TOP, help=f"Rationale openings listed per facet (default {DEFAULT_TOP}).")
    parser.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, metavar="N",
                        help=f"Stored items shown in full in report.html, a seeded sample (default {DEFAULT_EXAMPLES}; 0: none).")
    parser.add_argument("--no-plots", action="store_true", help="Skip the matplotlib plots (the page has tables only).")
    return parser.parse_args(argv)


def validate(args: argparse.Namespace) -> None:
    """Every argument checked before anything is read or written."""
    if (args.price_in is None) != (args.price_out is None):
        fail("pass both --price-in and --price-out (USD per million tokens), or neither")
    for flag, value in (("--price-in", args.price_in), ("--price-out", args.price_out)):
        if value is not None and (not math.isfinite(value) or value < 0):
            fail(f"{flag} {value} is not a price; give USD per million tokens as a number ≥ 0")
    if args.top < 1:
        fail(f"--top {args.top} must be at least 1")
    if not 0 <= args.examples <= MAX_EXAMPLES:
        fail(f"--examples {args.examples} must be between 0 and {MAX_EXAMPLES:,}")
    inputs = [("--db", args.db), ("--compare", args.compare)]
    names = ["report.json", "report.html", *(Path(p).name for _, p in inputs if p and str(p).endswith(".png"))]
    clash = clobbered_input([("--out", args.out), *files_in("--out", args.out, names)], inputs)
    if clash:
        fail(clash)
    if args.out.exists() and not args.out.is_dir():
        fail(f"--out {args.out} exists and is not a directory; pass a directory for the report files")
    base = next(p for p in [args.out.absolute(), *args.out.absolute().parents] if p.exists())
    if not base.is_dir() or not os.access(base, os.W_OK):
        fail(f"--out {args.out} cannot be created ({base} is not a writable directory); pass another --out")
    if args.compare is not None and Path(args.compare).resolve() == Path(args.db).resolve():
        fail("--compare names the same store as --db; pass another run's store")
    if not args.no_plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            fail("plots need matplotlib: pip install 'muser-graph[eval]', or pass --no-plots")


def write(out: Path, reports: list[dict[str, Any]], draw: bool) -> list[Path]:
    """report.json, the plots and report.html into `out`; returns the files written."""
    from graph.report.html import page

    out.mkdir(parents=True, exist_ok=True)
    plots: list[dict[str, Path]] = [{} for _ in reports]
    if draw:
        from graph.report.plots import draw_all

        plots = [draw_all(r, out, prefix="" if i == 0 else "compare_") for i, r in enumerate(reports)]
    data = dict(reports[0])
    if len(reports) > 1:
        data["compare"] = reports[1]
    (out / "report.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "report.html").write_text(page(reports, plots), encoding="utf-8")
    return [out / "report.json", out / "report.html", *(p for d in plots for p in d.values())]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    validate(args)
    try:
        reports = [report_for(db, args.top, args.price_in, args.price_out, args.examples)
                   for db in [args.db, *([args.compare] if args.compare else [])]]
    except ReportError as exc:
        fail(str(exc))
    from graph.report.terminal import print_report

    print_report(Console(highlight=False), reports)
    try:
        files = write(args.out, reports, not args.no_plots)
    except OSError as exc:
        fail(f"cannot write the report to {args.out} ({exc.strerror or exc}); pass a writable --out directory")
    print(f"wrote {len(files)} files to {args.out}/: report.json, report.html"
          f"{f' and {len(files) - 2} plots' if len(files) > 2 else ''}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
