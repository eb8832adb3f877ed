"""Per-example differences between two evaluations of the same examples, for eval.compare.

eval.healthbench stores each run's per-example metrics (eval.reports.paired.example_scores, keyed by
prompt_id) in the run's stored report under "per_example"; report.json does not carry them. Runs stored
before that have none, and are skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eval.grading.scoring import OVERALL

SHOWN = 10


def overall(per_example: Mapping[str, Mapping[str, float]]) -> dict[str, float | None]:
    """{prompt_id: overall score} from a run's stored per-example metrics."""
    return {key: metrics.get(OVERALL) for key, metrics in per_example.items()}


def differences(a: Mapping[str, float | None], b: Mapping[str, float | None]) -> list[tuple[str, float, float]]:
    """(key, score A, score B) of the examples both runs scored, largest |B − A| first, then by key."""
    shared = []
    for key in a.keys() & b.keys():
        x, y = a[key], b[key]
        if x is not None and y is not None:
            shared.append((key, x, y))
    return sorted(shared, key=lambda t: (-abs(t[2] - t[1]), t[0]))


def markdown(rows: Sequence[tuple[str, Mapping[str, dict[str, Any]]]], shown: int = SHOWN) -> str:
    """For each other store against the first, per subset both have: counts of better/worse/equal examples
    and the largest differences; "" when no pair of runs has per-example scores."""
    if len(rows) < 2:
        return ""
    base_label, base = rows[0]
    parts = []
    for label, runs in rows[1:]:
        for subset in (s for s in base if s in runs):
            a, b = (r["report"].get("per_example") for r in (base[subset], runs[subset]))
            if not a or not b:
                continue
            diffs = differences(overall(a), overall(b))
            if not diffs:
                continue
            better = sum(1 for _, x, y in diffs if y > x)
            worse = sum(1 for _, x, y in diffs if y < x)
            lines = [f"\n### Per example: {label} vs {base_label} ({subset})\n",
                     f"{len(diffs)} examples scored by both: {label} higher on {better}, lower on {worse}, "
                     f"equal on {len(diffs) - better - worse}. Largest differences (scores in %):\n",
                     f"| example | {base_label} | {label} | difference |", "|---|---:|---:|---:|"]
            lines += [f"| {key} | {100 * x:.1f} | {100 * y:.1f} | {100 * (y - x):+.1f} |" for key, x, y in diffs[:shown]]
            parts.append("\n".join(lines) + "\n")
    return "".join(parts)
