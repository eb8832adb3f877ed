"""HealthBench scoring, pure: per-example and per-tag scores, clipped means and bootstrap spread.

Semantics are those of OpenAI's reference (simple-evals, healthbench_eval.py): points earned over
points possible, negatives included and unclipped per example; aggregates are means clipped to [0, 1].
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from eval.data.examples import Example, RubricItem

OVERALL = "overall_score"
N_BOOTSTRAP = 1000


def score_items(items: Sequence[RubricItem], met: Sequence[bool]) -> float | None:
    """Sum of points of met items (negative ones subtract) ÷ sum of positive points; None without positives."""
    if len(items) != len(met):
        raise ValueError(f"{len(items)} rubric items but {len(met)} grades")
    possible = sum(item.points for item in items if item.points > 0)
    if possible <= 0:
        return None
    earned = sum(item.points for item, ok in zip(items, met, strict=True) if ok)
    return earned / possible


def example_metrics(example: Example, met: Sequence[bool]) -> dict[str, float]:
    """Every metric one fully graded example contributes to.

    overall_score and each example tag get the example's score; each rubric tag gets the score over only
    the items carrying it, and only when those items include a positive one.
    """
    overall = score_items(example.rubrics, met)
    if overall is None:
        return {}
    metrics = {OVERALL: overall}
    metrics.update({tag: overall for tag in example.example_tags})
    by_tag: dict[str, list[tuple[RubricItem, bool]]] = defaultdict(list)
    for item, ok in zip(example.rubrics, met, strict=True):
        for tag in item.tags:
            by_tag[tag].append((item, ok))
    for tag, pairs in by_tag.items():
        score = score_items([p[0] for p in pairs], [p[1] for p in pairs])
        if score is not None:
            metrics[tag] = score
    return metrics


def clipped_mean(values: Sequence[float] | np.ndarray) -> float:
    """Mean, then clipped to [0, 1] (individual scores may be negative)."""
    return float(np.clip(np.mean(values), 0.0, 1.0))


def bootstrap_std(values: Sequence[float], rng: np.random.Generator, n_resamples: int = N_BOOTSTRAP) -> float:
    """Standard deviation of the clipped mean over `n_resamples` resamples with replacement."""
    data = np.asarray(values, dtype=float)
    means = np.empty(n_resamples)
    chunk = max(1, 4_000_000 // max(1, len(data)))  # bounds memory on 5000-example runs
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        idx = rng.integers(0, len(data), size=(stop - start, len(data)))
        means[start:stop] = data[idx].mean(axis=1)
    return float(np.std(np.clip(means, 0.0, 1.0)))


@dataclass
class Aggregate:
    """Per-metric clipped mean, bootstrap std and number of contributing examples."""

    metrics: dict[str, float] = field(default_factory=dict)
    bootstrap_std: dict[str, float] = field(default_factory=dict)
    n_samples: dict[str, int] = field(default_factory=dict)

    @property
    def score(self) -> float | None:
        """The headline number: the clipped mean of the per-example scores."""
        return self.metrics.get(OVERALL)


def aggregate(
    per_example: Iterable[Mapping[str, float]], seed: int = 0, n_resamples: int = N_BOOTSTRAP
) -> Aggregate:
    """Combine per-example metric dicts. Each metric draws from its own generator seeded by (seed, name),
    so its std does not depend on which other metrics exist or their order.
    """
    values: dict[str, list[float]] = defaultdict(list)
    for metrics in per_example:
        for name, value in metrics.items():
            values[name].append(value)
    out = Aggregate()
    for name in sorted(values):
        vals = values[name]
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        out.metrics[name] = clipped_mean(vals)
        out.bootstrap_std[name] = bootstrap_std(vals, rng, n_resamples)
        out.n_samples[name] = len(vals)
    return out
