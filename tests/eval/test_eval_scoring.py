"""Hand-computed HealthBench scoring cases (the reference's own test is (7 + 10 - 6) / 22)."""

from __future__ import annotations

import numpy as np
import pytest
from evalkit import MINI

from eval.data.examples import Example, RubricItem, load_examples
from eval.grading.scoring import OVERALL, aggregate, bootstrap_std, clipped_mean, example_metrics, score_items


def items(*points: float, tags: tuple[str, ...] = ()) -> list[RubricItem]:
    return [RubricItem(f"criterion {i}", p, tags) for i, p in enumerate(points)]


def example(rubrics: list[RubricItem], tags: tuple[str, ...] = ()) -> Example:
    return Example("x", ({"role": "user", "content": "hi"},), tuple(rubrics), tags)


def test_reference_case_counts_met_negative_items() -> None:
    assert score_items(items(7, 5, 10, -6), [True, False, True, True]) == (7 + 10 - 6) / 22


def test_unmet_negative_item_costs_nothing() -> None:
    assert score_items(items(7, 5, 10, -6), [True, True, True, False]) == 22 / 22


def test_example_score_is_not_clipped() -> None:
    assert score_items(items(5, 5, -8), [True, False, True]) == pytest.approx(-0.3)
    assert score_items(items(4, -10), [False, True]) == pytest.approx(-2.5)


def test_no_positive_points_means_no_score() -> None:
    assert score_items(items(-3, -5), [True, False]) is None
    assert score_items([], []) is None


def test_grades_must_match_items() -> None:
    with pytest.raises(ValueError, match="3 rubric items but 2 grades"):
        score_items(items(1, 2, 3), [True, False])


def test_tag_breakdown_of_the_fever_example() -> None:
    fever = load_examples(MINI)[0][0]
    # items: [7] met (completeness), [5] unmet (accuracy), [10] met (accuracy, cluster), [-6] met (accuracy)
    metrics = example_metrics(fever, [True, False, True, True])
    assert metrics == pytest.approx(
        {
            OVERALL: 11 / 22,
            "theme:emergency_referrals": 11 / 22,
            "physician_agreed_category:conditionally-emergent": 11 / 22,
            "axis:completeness": 7 / 7,
            "axis:accuracy": (10 - 6) / (5 + 10),
            "level:example": (7 - 6) / (7 + 5),
            "level:cluster": 10 / 10,
            "cluster:emergent_red_flags": 10 / 10,
        }
    )


def test_rubric_tag_with_only_negative_items_is_dropped() -> None:
    rubric = [
        RubricItem("good", 5, ("axis:accuracy",)),
        RubricItem("bad", -5, ("axis:communication_quality",)),
    ]
    metrics = example_metrics(example(rubric, ("theme:hedging",)), [True, True])
    assert metrics == {OVERALL: 0.0, "theme:hedging": 0.0, "axis:accuracy": 1.0}


def test_example_without_positive_points_contributes_nothing() -> None:
    assert example_metrics(example(items(-5)), [True]) == {}


def test_aggregate_clips_the_mean_not_the_examples() -> None:
    assert clipped_mean([-0.5, -0.2]) == 0.0
    assert clipped_mean([1.5, 0.9]) == 1.0
    assert clipped_mean([-0.3, 0.5, 1.0]) == pytest.approx(0.4)
    agg = aggregate([{OVERALL: -0.3, "axis:x": -0.6}, {OVERALL: 0.5}, {OVERALL: 1.0}])
    assert agg.score == pytest.approx(0.4)
    assert agg.metrics["axis:x"] == 0.0
    assert agg.n_samples == {OVERALL: 3, "axis:x": 1}
    assert agg.bootstrap_std["axis:x"] == 0.0


def test_bootstrap_is_seeded_and_independent_of_other_metrics() -> None:
    values = [float(i % 2) for i in range(100)]
    one = aggregate([{OVERALL: v} for v in values], seed=3)
    again = aggregate([{OVERALL: v, "axis:other": 0.5} for v in values], seed=3)
    other_seed = aggregate([{OVERALL: v} for v in values], seed=4)
    assert one.bootstrap_std[OVERALL] == again.bootstrap_std[OVERALL]
    assert one.bootstrap_std[OVERALL] != other_seed.bootstrap_std[OVERALL]


def test_bootstrap_std_is_near_the_standard_error() -> None:
    values = [float(i % 2) for i in range(100)]  # sd 0.5, standard error of the mean 0.05
    std = bootstrap_std(values, np.random.default_rng(0))
    assert std == pytest.approx(0.05, abs=0.005)


def test_bootstrap_clips_each_resampled_mean() -> None:
    # every resampled mean of values above 1 clips to 1, so the spread is zero
    assert bootstrap_std([1.2, 1.5, 2.0], np.random.default_rng(0)) == 0.0
