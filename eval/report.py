"""The HealthBench report: per-example metrics → report.json shape, and the rich table of it.

Failure policy: an example with any rubric item that could not be graded is left out of every metric
(its score would otherwise be computed over a different rubric); its failed items are counted in
grading_failures. An example without a response contributes nothing; n_examples counts all selected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from eval.data import Example
from eval.scoring import OVERALL, aggregate, example_metrics

AXES = ("accuracy", "completeness", "context_awareness", "communication_quality", "instruction_following")
THEMES = (
    "emergency_referrals",
    "context_seeking",
    "global_health",
    "health_data_tasks",
    "communication",
    "hedging",
    "complex_responses",
)
AXIS_KEYS = tuple(f"axis:{a}" for a in AXES)
THEME_KEYS = tuple(f"theme:{t}" for t in THEMES)


def build_report(
    examples: Sequence[Example], met: Mapping[str, Sequence[bool | None]], seed: int = 0
) -> dict[str, Any]:
    """The report.json mapping: score, metrics, bootstrap_std, n_samples, n_examples, grading_failures."""
    per_example: list[dict[str, float]] = []
    failures = 0
    for ex in examples:
        grades = met.get(ex.prompt_id)
        if grades is None:
            continue
        missing = sum(g is None for g in grades)
        if missing:
            failures += missing
            continue
        per_example.append(example_metrics(ex, [bool(g) for g in grades]))
    agg = aggregate(per_example, seed=seed)
    return {
        "score": agg.score,
        "metrics": agg.metrics,
        "bootstrap_std": agg.bootstrap_std,
        "n_samples": agg.n_samples,
        "n_examples": len(examples),
        "grading_failures": failures,
    }


def write_json(report: Mapping[str, Any], path: str | Path) -> Path:
    """Write the report (parents created); returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return out


def pretty(key: str) -> str:
    """ "axis:context_awareness" → "context awareness"."""
    return key.split(":", 1)[-1].replace("_", " ")


def cell(report: Mapping[str, Any], key: str) -> str:
    """ "63.8 ± 1.2" in percent, or "–" when the metric has no examples."""
    value = report["metrics"].get(key)
    if value is None:
        return "–"
    return f"{100 * value:.1f} ± {100 * report['bootstrap_std'][key]:.1f}"


def report_table(report: Mapping[str, Any], title: str) -> Table:
    """Overall, the five axes and the seven themes, each with ± bootstrap std and n."""
    table = Table(title=escape(title), title_justify="left")
    table.add_column("metric")
    table.add_column("score (%)", justify="right")
    table.add_column("n", justify="right")
    sections = (("overall", (OVERALL,)), ("axis", AXIS_KEYS), ("theme", THEME_KEYS))
    for section, keys in sections:
        for i, key in enumerate(keys):
            label = "overall" if key == OVERALL else f"{section}: {pretty(key)}"
            table.add_row(
                label, cell(report, key), str(report["n_samples"].get(key, 0)), end_section=i == len(keys) - 1
            )
    table.caption = (
        f"{report['n_examples']} examples, {report['n_samples'].get(OVERALL, 0)} scored, "
        f"{report['grading_failures']} grading failures"
    )
    return table
