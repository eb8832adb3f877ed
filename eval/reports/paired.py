"""The paired difference of two gradings of the same examples (second − first): the right statistic when
one set of examples is graded twice, e.g. r0 against r' of one graph run, or r' of two refiners.

Per metric (overall, each axis, each theme) over the examples both runs scored: the difference of the
clipped means, a seeded paired bootstrap 95% CI (examples resampled together), and how many examples
went up, down or stayed. Per-example scores are stored with each run (`per_example` in its report).
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eval.data.examples import Example
from eval.grading.scoring import N_BOOTSTRAP, OVERALL, clipped_mean, example_metrics
from eval.reports.report import AXIS_KEYS, DROP, THEME_KEYS, pretty
from eval.reports.table import SUBSETS

KEYS = (OVERALL, *AXIS_KEYS, *THEME_KEYS)
SAME = 1e-9  # scores closer than this count as unchanged
Scores = Mapping[str, Mapping[str, float]]  # {prompt_id: {metric: score}}


def example_scores(
    examples: Sequence[Example],
    met: Mapping[tuple[str, int], Sequence[bool | None]],
    repeats: int = 1,
    failed_items: str = DROP,
) -> dict[str, dict[str, float]]:
    """{prompt_id: {metric: score}} with the report's failed-items policy, averaged over scored repeats."""
    out: dict[str, dict[str, float]] = {}
    for ex in examples:
        sums: dict[str, list[float]] = defaultdict(list)
        for repeat in range(repeats):
            grades = met.get((ex.prompt_id, repeat))
            if grades is None:
                if failed_items == DROP:
                    continue
                grades = [None] * len(ex.rubrics)
            if failed_items == DROP and any(g is None for g in grades):
                continue
            for key, value in example_metrics(ex, [bool(g) for g in grades]).items():
                sums[key].append(value)
        if sums:
            out[ex.prompt_id] = {key: float(np.mean(values)) for key, values in sums.items()}
    return out


@dataclass(frozen=True)
class Paired:
    """One metric's paired comparison (scores in [0, 1] units)."""

    key: str
    n: int
    first: float
    second: float
    diff: float
    low: float
    high: float
    up: int
    down: int
    same: int


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, n_resamples: int = N_BOOTSTRAP
) -> tuple[float, float]:
    """95% percentile interval of clipped_mean(b) − clipped_mean(a) with examples resampled as pairs."""
    idx = rng.integers(0, len(a), size=(n_resamples, len(a)))
    diffs = np.clip(b[idx].mean(axis=1), 0, 1) - np.clip(a[idx].mean(axis=1), 0, 1)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(low), float(high)


def compare_paired(
    first: Scores, second: Scores, seed: int = 0, n_resamples: int = N_BOOTSTRAP
) -> list[Paired]:
    """Each metric of KEYS that some example has in both runs; each draws from its own (seed, key) generator."""
    common = sorted(set(first) & set(second))
    out = []
    for key in KEYS:
        ids = [p for p in common if key in first[p] and key in second[p]]
        if not ids:
            continue
        a = np.array([first[p][key] for p in ids])
        b = np.array([second[p][key] for p in ids])
        rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
        low, high = paired_bootstrap(a, b, rng, n_resamples)
        delta = b - a
        up, down = int((delta > SAME).sum()), int((delta < -SAME).sum())
        out.append(
            Paired(
                key,
                len(ids),
                clipped_mean(a),
                clipped_mean(b),
                clipped_mean(b) - clipped_mean(a),
                low,
                high,
                up,
                down,
                len(ids) - up - down,
            )
        )
    return out


def paired_table(
    first_label: str, second_label: str, rows: Sequence[Paired], unpaired: tuple[int, int]
) -> str:
    """Markdown: one row per metric, in percentage points; a line names examples only one run scored."""
    a, b = (label.replace("|", "\\|") for label in (first_label, second_label))
    lines = [
        f"Paired difference, {b} − {a} (same examples, percentage points; 95% CI by paired bootstrap):\n",
        f"| Metric | n | {a} | {b} | Difference | 95% CI | Up | Down | Same |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        name = "overall" if row.key == OVERALL else f"{row.key.split(':')[0]}: {pretty(row.key)}"
        lines.append(
            f"| {name} | {row.n} | {100 * row.first:.1f} | {100 * row.second:.1f} | {100 * row.diff:+.1f} | "
            f"[{100 * row.low:+.1f}, {100 * row.high:+.1f}] | {row.up} | {row.down} | {row.same} |"
        )
    only_a, only_b = unpaired
    if only_a or only_b:
        lines.append(
            f"\nLeft out of the pairing: {only_a} examples scored only by {a}, {only_b} only by {b}."
        )
    return "\n".join(lines) + "\n"


def paired_section(rows: Sequence[tuple[str, Mapping[str, Mapping[str, Any]]]], seed: int = 0) -> str:
    """eval.compare's paired tables: every later store against the first, per subset both hold; "" for one store."""
    if len(rows) < 2:
        return ""
    first_label, first_runs = rows[0]
    parts = []
    for label, runs in rows[1:]:
        for subset in SUBSETS:
            run_a, run_b = first_runs.get(subset), runs.get(subset)
            if run_a is None or run_b is None:
                continue
            title = f"\n### Paired: {label} vs {first_label} ({subset})\n\n".replace("|", "\\|")
            scores_a, scores_b = run_a["report"].get("per_example"), run_b["report"].get("per_example")
            if scores_a is None or scores_b is None:
                parts.append(
                    title + "No per-example scores stored (graded by an older version); grade again "
                    "with python -m eval.healthbench to pair.\n"
                )
                continue
            common = set(scores_a) & set(scores_b)
            if not common:
                parts.append(
                    title + "No example was scored by both runs; grade the same examples to pair them.\n"
                )
                continue
            unpaired = (len(set(scores_a) - common), len(set(scores_b) - common))
            table = paired_table(first_label, label, compare_paired(scores_a, scores_b, seed), unpaired)
            parts.append(title + table)
    return "".join(parts)
