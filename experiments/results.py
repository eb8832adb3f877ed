"""python -m experiments.results ROW=STORE … --out results.md [--json results.json]: the method's table in the
shape of the paper's Table 1.

Each STORE is what `eval.healthbench --db` wrote for that row's model (its latest finished run per subset).
One row per model: the overall HealthBench score and the five axes, and the hard subset when a row was
evaluated on it, each cell with its n (the examples it stands on). Every row after the first is also paired
with the first (the base) over the examples both scored: the difference and its 95% bootstrap interval
(eval/reports/paired.py). The grading is named above the table; rows graded differently are refused, since
their scores would not be comparable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eval.batch.store import StoreError
from eval.compare import pick_runs
from eval.grading.scoring import OVERALL
from eval.grading.setup import describe
from eval.reports.paired import compare_paired
from eval.reports.report import AXIS_KEYS, pretty
from eval.reports.table import grading_conflicts, grading_of

COLUMNS = (OVERALL, *AXIS_KEYS)
Runs = Mapping[str, Mapping[str, Any]]  # {subset: stored run}


class ResultsError(ValueError):
    """Rows that cannot be tabled; str() is one line naming the problem and the fix."""


def cell(run: Mapping[str, Any] | None, key: str) -> dict[str, Any]:
    """{score, n}: a metric of a stored run, its score in [0, 1] (None when nothing was scored)."""
    if run is None:
        return {"score": None, "n": 0}
    report = run["report"]
    n = int(report.get("n_samples", {}).get(key, 0))
    score = report.get("metrics", {}).get(key)
    return {"score": None if score is None or n == 0 else float(score), "n": n}


def versus(first: Runs, runs: Runs) -> dict[str, dict[str, Any]]:
    """The paired differences of `runs` from `first` on the full subset, per column: {diff, low, high, n, …}."""
    a, b = (r.get("full", {}).get("report", {}).get("per_example") for r in (first, runs))
    if not a or not b:
        return {}
    return {p.key: {"diff": p.diff, "low": p.low, "high": p.high, "n": p.n, "up": p.up, "down": p.down}
            for p in compare_paired(a, b) if p.key in COLUMNS}


def build(rows: Sequence[tuple[str, Runs]]) -> dict[str, Any]:
    """results.json: the grading, then per row its cells (full: every column; hard: overall) and its pairing."""
    conflicts = grading_conflicts(rows)
    if conflicts:
        raise ResultsError("the rows were graded differently (" + "; ".join(conflicts) + "); grade every row alike")
    first_label, first = rows[0]
    out = []
    for label, runs in rows:
        entry: dict[str, Any] = {"row": label, "full": {key: cell(runs.get("full"), key) for key in COLUMNS}}
        if "hard" in runs:
            entry["hard"] = {OVERALL: cell(runs["hard"], OVERALL)}
        if label != first_label:
            entry["vs"] = {"row": first_label, "paired": versus(first, runs)}
        out.append(entry)
    any_run = next(run for _, runs in rows for run in runs.values())
    return {"grading": grading_of(any_run), "rows": out}


def pct(value: float | None, sign: bool = False) -> str:
    return "–" if value is None else f"{100 * value:{'+' if sign else ''}.1f}"


def markdown(results: Mapping[str, Any]) -> str:
    """The grader's line, the table of scores with n, and the paired differences from the first row."""
    rows = results["rows"]
    hard = any("hard" in row for row in rows)
    names = ["Overall", *(pretty(key).capitalize() for key in AXIS_KEYS), *(["Hard"] if hard else [])]
    lines = [f"Graded by {describe(results['grading'])}.", "",
             "HealthBench scores in percent, each with its n (examples scored):", "",
             "| Model | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for row in rows:
        cells = [row["full"][key] for key in COLUMNS] + ([row.get("hard", {}).get(OVERALL)] if hard else [])
        text = [f"{pct(c['score'])} ({c['n']})" if c else "–" for c in cells]
        lines.append(f"| {row['row']} | " + " | ".join(text) + " |")
    paired = [row for row in rows if "vs" in row]
    if paired:
        lines += ["", f"Overall, each row against {paired[0]['vs']['row']} on the examples both scored "
                  "(percentage points, 95% paired bootstrap interval):", "",
                  "| Model | Difference | 95% CI | n | Up | Down |", "|---|---:|---|---:|---:|---:|"]
        for row in paired:
            p = row["vs"]["paired"].get(OVERALL)
            lines.append(f"| {row['row']} | – | – | 0 | – | – |" if p is None else
                         f"| {row['row']} | {pct(p['diff'], True)} | [{pct(p['low'], True)}, {pct(p['high'], True)}] | "
                         f"{p['n']} | {p['up']} | {p['down']} |")
    return "\n".join(lines) + "\n"


def parse_row(text: str) -> tuple[str, Path]:
    row, sep, path = text.partition("=")
    if not sep or not row or not path:
        raise ResultsError(f"{text!r}: give each row as ROW=STORE, e.g. +SR=runs/loop/eval/sr.sqlite")
    return row, Path(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.results", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("rows", nargs="+", metavar="ROW=STORE", help="a row name and its eval.healthbench store")
    p.add_argument("--out", type=Path, required=True, help="the markdown file to write, e.g. runs/loop/results.md")
    p.add_argument("--json", type=Path, help="the same table as JSON, e.g. runs/loop/results.json")
    args = p.parse_args(argv)
    try:
        pairs = [parse_row(text) for text in args.rows]
        clash = {args.out, args.json} & {path for _, path in pairs}
        if clash:
            raise ResultsError(f"{clash.pop()} is one of the stores; write the table elsewhere")
        for row, path in pairs:
            if not path.is_file():
                raise ResultsError(f"{row}: no store {path}; run eval.healthbench --db {path} first")
        results = build([(row, pick_runs(path)) for row, path in pairs])
    except (ResultsError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = markdown(results)
    for path, body in ((args.out, text), (args.json, json.dumps(results, indent=2) + "\n")):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body, encoding="utf-8")
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
