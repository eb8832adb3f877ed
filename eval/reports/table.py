"""Pure tables of eval.compare: scores per store and subset, and what stands behind each score.

A score from an incomplete run or from a `--n` sample is marked in the score table, and the runs table
gives its n, its failures and its grading setup, so no number is read without its caveats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eval.grading.setup import describe, differences
from eval.reports.report import AXIS_KEYS, DROP, pretty

SUBSETS = ("full", "hard", "consensus")
INCOMPLETE, SAMPLE = "†", "*"
Rows = Sequence[tuple[str, Mapping[str, Mapping[str, Any]]]]


def scored(run: Mapping[str, Any]) -> int:
    """How many (example, repeat) answers the run's overall score stands on."""
    return int(run["report"]["n_samples"].get("overall_score", 0))


def expected(run: Mapping[str, Any]) -> int:
    report = run["report"]
    return int(report["n_examples"]) * int(report.get("n_repeats", 1))


def is_incomplete(run: Mapping[str, Any]) -> bool:
    """Some answer or verdict is missing, whether it was dropped or scored as unmet."""
    report = run["report"]
    failures = report.get("grading_failures", 0) + report.get("response_failures", 0)
    return failures > 0 or scored(run) < expected(run)


def is_sample(run: Mapping[str, Any]) -> bool:
    """The run graded a seeded `--n` sample of its data file, not all of it."""
    config = run.get("config") or {}
    if config.get("n") is None:
        return False
    available = config.get("n_available")
    return available is None or int(config.get("n_selected", 0)) < int(available)


def marks(run: Mapping[str, Any]) -> str:
    return (INCOMPLETE if is_incomplete(run) else "") + (SAMPLE if is_sample(run) else "")


def grading_of(run: Mapping[str, Any]) -> dict[str, Any] | None:
    """The stored grading setup of a run (None for runs made before setups were stored)."""
    setup = run["report"].get("grading") or (run.get("config") or {}).get("grading")
    return dict(setup) if setup else None


def _pct(run: Mapping[str, Any] | None, key: str, marked: bool = False) -> str:
    value = None if run is None else run["report"]["metrics"].get(key)
    if value is None:
        return "–"
    return f"{100 * value:.1f}" + (marks(run) if marked and run is not None else "")


def markdown_table(rows: Rows) -> str:
    """One row per labelled store: Full | Hard | Consensus | five axes (from Full), in percent, marked."""
    header = ["Run", "Full", "Hard", "Consensus", *(pretty(k).capitalize() for k in AXIS_KEYS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for label, runs in rows:
        full = runs.get("full")
        cells = [
            label.replace("|", "\\|"),
            *(_pct(runs.get(subset), "overall_score", marked=True) for subset in SUBSETS),
            *(_pct(full, key) for key in AXIS_KEYS),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def runs_table(rows: Rows) -> str:
    """One row per run shown: its id, n scored of n expected, failures, caveats and grading setup."""
    lines = [
        "| Run | Subset | Id | Scored | Item failures | Missing answers | Notes | Grading |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for label, runs in rows:
        for subset in SUBSETS:
            run = runs.get(subset)
            if run is None:
                continue
            report = run["report"]
            missing = report.get("response_failures")
            notes = []
            if is_incomplete(run):
                notes.append(f"{INCOMPLETE} incomplete ({report.get('failed_items', DROP)})")
            if is_sample(run):
                notes.append(f"{SAMPLE} --n sample")
            if report.get("n_repeats", 1) > 1:
                notes.append(f"{report['n_repeats']} repeats")
            cells = [
                label.replace("|", "\\|"),
                subset,
                str(run["id"]),
                f"{scored(run)}/{expected(run)}",
                str(report.get("grading_failures", 0)),
                "?" if missing is None else str(missing),
                ", ".join(notes) or "complete",
                describe(grading_of(run)).replace("|", "\\|"),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def grading_conflicts(rows: Rows) -> list[str]:
    """One line per shown run graded differently from the first one shown, naming the fields that differ."""
    shown = [(label, subset, run) for label, runs in rows for subset, run in runs.items()]
    if not shown:
        return []
    first_label, first_subset, first = shown[0]
    base = grading_of(first)
    out = []
    for label, subset, run in shown[1:]:
        differ = differences(base, grading_of(run))
        if differ:
            out.append(
                f"{label} {subset} (run {run['id']}) vs {first_label} {first_subset} (run {first['id']}): "
                f"{', '.join(differ)} differ"
            )
    return out
