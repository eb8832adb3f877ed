"""The HealthBench report: per-example metrics → report.json shape, and the rich table of it.

Failed-items policy (named in every report): `drop-example` leaves out of every metric an answer with any
rubric item that could not be graded, and an example whose answer could not be obtained; `score-as-unmet`
scores a missing verdict as not met and a missing answer as meeting no item, closer to the reference, which
grades whatever text came back. Repeats are pooled as in the reference (examples × repeats), and the spread
of the per-repeat overall scores is reported beside it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.markup import escape
from rich.table import Table

from eval.data.examples import Example
from eval.grading.scoring import OVERALL, aggregate, clipped_mean, example_metrics

DROP, UNMET = "drop-example", "score-as-unmet"
FAILED_ITEMS = (DROP, UNMET)
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
    examples: Sequence[Example],
    met: Mapping[tuple[str, int], Sequence[bool | None]],
    seed: int = 0,
    *,
    repeats: int = 1,
    failed_items: str = DROP,
) -> dict[str, Any]:
    """The report.json mapping: score, metrics, bootstrap_std, n_samples, counts, policy and repeat spread."""
    if failed_items not in FAILED_ITEMS:
        raise ValueError(f"failed_items must be one of {FAILED_ITEMS}, got {failed_items!r}")
    per_example: list[dict[str, float]] = []
    per_repeat: list[list[float]] = [[] for _ in range(repeats)]
    grading_failures = response_failures = 0
    for repeat in range(repeats):
        for ex in examples:
            grades = met.get((ex.prompt_id, repeat))
            if grades is None:
                response_failures += 1
                grades = [None] * len(ex.rubrics) if failed_items == UNMET else None
            else:
                grading_failures += sum(g is None for g in grades)
            if grades is None or (failed_items == DROP and any(g is None for g in grades)):
                continue
            metrics = example_metrics(ex, [bool(g) for g in grades])
            per_example.append(metrics)
            per_repeat[repeat].append(metrics[OVERALL])
    agg = aggregate(per_example, seed=seed)
    repeat_scores = [clipped_mean(scores) if scores else None for scores in per_repeat]
    scored = [s for s in repeat_scores if s is not None]
    return {
        "score": agg.score,
        "metrics": agg.metrics,
        "bootstrap_std": agg.bootstrap_std,
        "n_samples": agg.n_samples,
        "n_examples": len(examples),
        "n_repeats": repeats,
        "repeat_scores": repeat_scores,
        "repeat_std": float(np.std(scored)) if len(scored) > 1 else None,
        "failed_items": failed_items,
        "grading_failures": grading_failures,
        "response_failures": response_failures,
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
    repeats = report.get("n_repeats", 1)
    spread = ""
    if repeats > 1 and report.get("repeat_std") is not None:
        spread = f", overall std across repeats {100 * report['repeat_std']:.1f}"
    table.caption = (
        f"{report['n_examples']} examples × {repeats} repeat(s), {report['n_samples'].get(OVERALL, 0)} scored, "
        f"{report.get('response_failures', 0)} missing answers, {report['grading_failures']} grading "
        f"failures ({report.get('failed_items', DROP)}){spread}"
    )
    if report.get("grading"):
        from eval.grading.setup import describe

        table.caption += f"\ngraded with {escape(describe(report['grading']))}"
    return table
