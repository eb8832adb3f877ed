"""Pure agreement maths of the HealthBench meta-evaluation: how often a rater agrees with physicians.

As in the reference (simple-evals `healthbench_meta_eval.py`), agreement is pairwise: each of a rater's
labels is paired with every physician label on the same row. Precision groups the pairs by the rater's
label, recall by the physician's; F1 combines them per class, and "balanced" averages the positive and
negative classes. Every metric is also given per category, under "<category>: <name>".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from statistics import fmean

Metric = dict[str, float | None]  # {"n": pair count, "value": rate, or None when it cannot be computed}
PREFIX = "pairwise"


def _cls(label: bool) -> str:
    return "pos" if label else "neg"


def _name(rater: str, metric: str, cls: str, category: str | None = None) -> str:
    base = f"{PREFIX}_{rater}_{metric}_{cls}"
    return base if category is None else f"{category}: {base}"


def f1(precision: Metric, recall: Metric) -> Metric:
    """F1 of one class; n counts the pairs behind it once each (TP + FP + FN)."""
    p, r = precision["value"], recall["value"]
    pn, rn = float(precision["n"] or 0), float(recall["n"] or 0)
    if p is None or r is None:
        return {"n": pn + rn, "value": None}
    true_pos = p * pn
    value = 0.0 if p + r == 0 else 2 * p * r / (p + r)
    return {"n": pn + rn - true_pos, "value": value}


def balanced(pos: Metric, neg: Metric) -> Metric:
    """Mean of a metric over the positive and the negative class (None when either is missing)."""
    n = float(pos["n"] or 0) + float(neg["n"] or 0)
    if pos["value"] is None or neg["value"] is None:
        return {"n": n, "value": None}
    return {"n": n, "value": (pos["value"] + neg["value"]) / 2}


def rater_agreement(
    labels: Sequence[bool],
    others: Sequence[Sequence[bool]],
    categories: Sequence[str],
    rater: str = "model",
) -> dict[str, Metric]:
    """Pairwise precision, recall, F1 (pos, neg, balanced) of one rater against the others' labels.

    A metric only exists when some pair falls in it; F1 needs both its precision and its recall, and
    balanced needs both classes, as in the reference.
    """
    if not len(labels) == len(others) == len(categories):
        raise ValueError("labels, others and categories must have one entry per row")
    pairs: dict[str, list[bool]] = defaultdict(list)
    for label, row_others, category in zip(labels, others, categories, strict=True):
        for other in row_others:
            agree = label == other
            for scope in (None, category):
                pairs[_name(rater, "precision", _cls(label), scope)].append(agree)
                pairs[_name(rater, "recall", _cls(other), scope)].append(agree)
    metrics: dict[str, Metric] = {
        name: {"n": float(len(hits)), "value": sum(hits) / len(hits)} for name, hits in pairs.items()
    }
    for scope in (None, *sorted(set(categories))):
        for cls in ("pos", "neg"):
            prec, rec = _name(rater, "precision", cls, scope), _name(rater, "recall", cls, scope)
            if prec in metrics and rec in metrics:
                metrics[_name(rater, "f1", cls, scope)] = f1(metrics[prec], metrics[rec])
        for metric in ("precision", "recall", "f1"):
            pos, neg = _name(rater, metric, "pos", scope), _name(rater, metric, "neg", scope)
            if pos in metrics and neg in metrics:
                metrics[_name(rater, metric, "balanced", scope)] = balanced(metrics[pos], metrics[neg])
    return metrics


def physician_agreement(
    labels: Sequence[Sequence[bool]], physicians: Sequence[Sequence[str]], categories: Sequence[str]
) -> dict[str, dict[str, Metric]]:
    """{physician id: that physician's agreement with the other physicians on the rows they labelled}."""
    rows: dict[str, tuple[list[bool], list[list[bool]], list[str]]] = defaultdict(lambda: ([], [], []))
    for row_labels, row_ids, category in zip(labels, physicians, categories, strict=True):
        for i, (label, physician) in enumerate(zip(row_labels, row_ids, strict=True)):
            mine, theirs, cats = rows[physician]
            mine.append(label)
            theirs.append([*row_labels[:i], *row_labels[i + 1 :]])
            cats.append(category)
    return {pid: rater_agreement(*rows[pid], rater="physician") for pid in sorted(rows)}


def mean_over_physicians(per_physician: Mapping[str, Mapping[str, Metric]], name: str) -> float | None:
    """The mean of one metric over the physicians for whom it exists (the human baseline)."""
    values = [m[name]["value"] for m in per_physician.values() if m.get(name, {}).get("value") is not None]
    return fmean(v for v in values if v is not None) if values else None
