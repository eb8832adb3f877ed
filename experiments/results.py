"""python -m experiments.results ROW=REPORT.json … --out results.md: the method's table, one row per model.

Each REPORT is what `eval.healthbench --out` wrote for that row's model. The table gives each row's overall
HealthBench score (in percent) and n, the examples it stands on; the grader is named above it, and a row
whose grading differs from the first row's is refused, since its score would not be comparable.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from eval.grading.setup import describe


class ResultsError(ValueError):
    """A report that cannot be tabled; str() is one line naming it and the fix."""


def read_report(row: str, path: Path) -> dict[str, Any]:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{row}: no report {path}; run eval.healthbench for it first") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"{row}: {path} is not a readable report ({type(exc).__name__}); "
                           "run its eval.healthbench again") from None
    if not isinstance(report, dict) or "score" not in report or "n_samples" not in report:
        raise ResultsError(f"{row}: {path} is not an eval.healthbench report (no score); give its --out file")
    return report


def grader_line(setup: dict[str, Any] | None) -> str:
    return f"Graded by {describe(setup)}."


def table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    """The markdown: the grader, then | Model | HealthBench | n |, scores in percent."""
    first = rows[0][1].get("grading")
    for row, report in rows[1:]:
        if report.get("grading") != first:
            raise ResultsError(f"{row} was graded differently from {rows[0][0]} ({describe(report.get('grading'))} "
                               f"vs {describe(first)}); grade every row alike")
    lines = [grader_line(first), "", "| Model | HealthBench (%) | n |", "|---|---:|---:|"]
    for row, report in rows:
        n = int(report["n_samples"].get("overall_score", 0))
        score = "–" if report["score"] is None or n == 0 else f"{100 * float(report['score']):.1f}"
        lines.append(f"| {row} | {score} | {n} |")
    return "\n".join(lines) + "\n"


def parse_row(text: str) -> tuple[str, Path]:
    row, sep, path = text.partition("=")
    if not sep or not row or not path:
        raise ResultsError(f"{text!r}: give each row as ROW=REPORT.json, e.g. +SR=runs/exp/eval/sr.json")
    return row, Path(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.results", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("rows", nargs="+", metavar="ROW=REPORT", help="a row name and its eval.healthbench report")
    p.add_argument("--out", type=Path, required=True, help="the markdown file to write, e.g. runs/exp/results.md")
    args = p.parse_args(argv)
    try:
        pairs = [parse_row(text) for text in args.rows]
        if args.out in {path for _, path in pairs}:
            raise ResultsError(f"--out {args.out} is one of the reports; write the table elsewhere")
        text = table([(row, read_report(row, path)) for row, path in pairs])
    except ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
