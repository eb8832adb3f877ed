"""Pure rules of the dataset builder, with hand-computed expectations."""

from __future__ import annotations

from training.dataset.card import percentiles
from training.dataset.filters import (
    assistant_content,
    dedup_key,
    drop_reason,
    split_of,
    split_think,
    word_count,
)

FIFTY = " ".join(["word"] * 50)


def test_word_count_splits_on_any_whitespace() -> None:
    assert word_count("a  b\tc\nd") == 4
    assert word_count("   ") == 0


def test_drop_reason_applies_the_papers_filters_in_order() -> None:
    assert drop_reason("", "r", FIFTY) == "no_query"
    assert drop_reason("q", "r", "   ") == "no_answer"
    assert drop_reason("q", "r", " ".join(["word"] * 49)) == "short_answer"
    assert drop_reason("q", "r", FIFTY) is None
    assert drop_reason("q", "r </think> x", FIFTY) == "think_tag_in_text"


def test_split_think_separates_a_block_left_in_the_answer() -> None:
    assert split_think("", "<think>\nwhy\n</think>\n\nbecause") == ("why", "because")
    assert split_think("stored", "<think>ignored</think>answer") == ("stored", "answer")
    # opened and never closed: the model only thought, there is no answer part
    assert split_think("", "<think> I cannot answer this") == ("I cannot answer this", "")
    assert split_think(" t ", " plain answer ") == ("t", "plain answer")


def test_dedup_key_ignores_case_and_spacing_but_not_words() -> None:
    assert dedup_key("What  is X?", "Answer A") == dedup_key("what is x?", "answer   a")
    assert dedup_key("What is X?", "Answer A") != dedup_key("What is X?", "Answer B")
    assert dedup_key("q1", "a") != dedup_key("q2", "a")


def test_split_is_a_pure_function_of_id_and_fraction() -> None:
    sides = [split_of(i, 0.2) for i in range(2000)]
    assert sides == [split_of(i, 0.2) for i in range(2000)]
    share = sides.count("validation") / len(sides)
    assert 0.17 < share < 0.23
    assert all(split_of(i, 0.0) == "train" for i in range(100))
    # a larger fraction only moves records from train to validation, never back
    assert all(split_of(i, 0.5) == "validation" for i in range(2000) if sides[i] == "validation")
    assert [split_of(i, 0.2, "other") for i in range(50)] != sides[:50]


def test_percentiles_nearest_rank() -> None:
    values = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    # p5: rank ceil(0.5)=1 -> 10; p50: rank 5 -> 50; p95: rank ceil(9.5)=10 -> 100
    assert percentiles(values) == {"p5": 10, "p50": 50, "p95": 100, "p100": 100}
    assert percentiles([]) == {"p5": 0, "p50": 0, "p95": 0, "p100": 0}


def test_assistant_content_layout() -> None:
    assert assistant_content(" why ", " so ") == "<think>\nwhy\n</think>\n\nso"
