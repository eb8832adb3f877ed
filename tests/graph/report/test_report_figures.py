"""The report's pure arithmetic, against values worked out by hand or from published tables."""

from __future__ import annotations

import pytest

from graph.report.figures import (
    asks_question,
    bucket_value,
    cost_usd,
    describe,
    latency_percentiles,
    log_bucket,
    marginals,
    opening,
    quantile,
    wilson,
)


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    (2, 5, 0.1176, 0.7693),   # p = 0.4: centre 0.4434, half-width 0.3258
    (5, 10, 0.2366, 0.7634),  # symmetric around 0.5
    (0, 10, 0.0, 0.2775),     # no successes: the interval still has width (a normal approximation gives [0, 0])
    (10, 10, 0.7225, 1.0),
    (81, 263, 0.2553, 0.3662),  # Newcombe (1998), example 81/263
])
def test_wilson_interval_matches_hand_computation(k: int, n: int, low: float, high: float) -> None:
    cell = wilson(k, n)
    assert cell["rate"] == pytest.approx(k / n)
    assert cell["low"] == pytest.approx(low, abs=1e-4)
    assert cell["high"] == pytest.approx(high, abs=1e-4)


def test_wilson_with_nothing_counted_has_no_rate() -> None:
    assert wilson(0, 0) == {"k": 0, "n": 0, "rate": None, "low": None, "high": None}


def test_small_cells_get_wider_intervals() -> None:
    small, large = wilson(3, 10), wilson(300, 1000)
    assert small["rate"] == large["rate"]
    assert small["high"] - small["low"] > 3 * (large["high"] - large["low"])


def test_quantile_is_nearest_rank_over_counts() -> None:
    counts = {30: 1, 40: 1, 60: 1, 100: 1}
    assert quantile(counts, 0.5) == 40  # rank ceil(0.5·4) = 2
    assert quantile(counts, 0.9) == 100  # rank ceil(3.6) = 4
    assert quantile({7: 3, 9: 1}, 0.75) == 7  # rank 3 falls in the first value's three copies
    assert quantile({}, 0.5) is None


def test_describe_counts() -> None:
    d = describe({-10: 1, 15: 1, 20: 1, 30: 1})
    assert d == {"n": 4, "mean": 13.75, "min": -10, "p10": -10, "p50": 15, "p90": 30, "max": 30}
    assert describe({})["mean"] is None


def test_latency_buckets_are_within_half_a_percent() -> None:
    for ms in (0.5, 12.0, 999.0, 1000.0, 87_654.3):
        assert bucket_value(log_bucket(ms)) == pytest.approx(ms, rel=0.005)
    p = latency_percentiles({log_bucket(100): 98, log_bucket(5000): 2})
    assert p["p50"] == pytest.approx(100, rel=0.005)
    assert p["p90"] == pytest.approx(100, rel=0.005)
    assert p["p99"] == pytest.approx(5000, rel=0.005)


def test_opening_clusters_by_first_words() -> None:
    assert opening("1. We should ask about current medications.") == "1 we should ask"
    assert opening("We should ask about current medications.") == "we should ask about"
    assert opening("we should ASK about allergies!") == "we should ask about"
    assert opening("We should ask about current medications", words=6) == "we should ask about current medications"
    assert opening(None) == ""


@pytest.mark.parametrize(("text", "asks"), [
    ("Keep fluids up. Do you take any other medicines?", True),
    ("How long has your child had the fever? Keep fluids up.", True),
    ("What is croup? It is a viral infection.", False),  # a rhetorical heading, not a question to the user
    ("You should rest. Drink water.", False),  # speaks to the user but asks nothing
    ("", False),
])
def test_asks_question_heuristic(text: str, asks: bool) -> None:
    assert asks_question(text) is asks


def test_marginals_sum_cells_over_the_other_attributes() -> None:
    cells = [
        ({"role": "patient", "completeness": "incomplete"}, "decision", 10, 6),
        ({"role": "doctor", "completeness": "incomplete"}, "decision", 5, 4),
        ({"role": "patient", "completeness": "complete"}, "decision", 8, 1),
    ]
    m = marginals(cells, ["role", "completeness"])
    incomplete = next(c for c in m["completeness"] if c["value"] == "incomplete")
    assert (incomplete["k"], incomplete["n"]) == (10, 15)
    patient = next(c for c in m["role"] if c["value"] == "patient")
    assert (patient["k"], patient["n"]) == (7, 18)
    assert patient["low"] < 7 / 18 < patient["high"]


def test_cost_is_per_million_tokens() -> None:
    assert cost_usd(1410, 295, 3.0, 15.0) == pytest.approx((1410 * 3 + 295 * 15) / 1e6)
    assert cost_usd(1_000_000, 0, 0.2, 0.6) == pytest.approx(0.2)


def test_wilson_bounds_contain_the_rate_at_the_edges() -> None:
    for n in range(1, 500):
        for k in (0, n):
            cell = wilson(k, n)
            assert 0.0 <= cell["low"] <= cell["rate"] <= cell["high"] <= 1.0


def test_asks_question_is_linear_on_long_unpunctuated_text() -> None:
    import time

    text = "word " * 40_000 + "do you agree?"
    t0 = time.perf_counter()
    assert asks_question(text)
    assert time.perf_counter() - t0 < 1.0  # a backtracking regex takes minutes here
