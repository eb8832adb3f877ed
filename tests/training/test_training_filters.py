"""Pure rules of the dataset builder, with hand-computed expectations."""

from __future__ import annotations

from nodes.gate.echo import template_index
from nodes.gate.rules import BEFORE_CALLS, Record, Settings, first_reason
from nodes.gate.text import count_words
from training.dataset.card import percentiles
from training.dataset.filters import assistant_content, dedup_key, split_of, split_think

FIFTY = " ".join(["word"] * 50)


def test_word_count_splits_on_any_whitespace() -> None:
    assert count_words("a  b\tc\nd") == 4
    assert count_words("   ") == 0


def test_the_builders_text_rules_are_the_gates_in_its_order() -> None:
    settings = Settings(echo=template_index())

    def reason(query: str, reasoning: str, answer: str, words: int = 50) -> str | None:
        return first_reason(Record(query, reasoning, answer), Settings(settings.echo, words), BEFORE_CALLS)

    assert reason("", "r", FIFTY) == "no_query"
    assert reason("q", "r", "   ") == "no_answer"
    assert reason("q", "r", " ".join(["word"] * 49)) == "too_short"
    assert reason("q", "r", " ".join(["word"] * 49), words=30) is None  # the run's own minimum
    assert reason("q", "r", FIFTY) is None
    assert reason("q", "r </think> x", FIFTY) == "think_tag_in_text"


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


def test_one_vocabulary_for_the_run_the_builder_and_the_readme() -> None:
    from pathlib import Path

    from nodes.gate.rules import REASONS, RULES, STORE_REASONS
    from training.dataset import decontam, neardup

    assert len(RULES) == len(REASONS)
    assert {neardup.REASON, decontam.REASON, "duplicate"} == set(STORE_REASONS)
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme.split("### Drop reasons", 1)[1].split("\n## ", 1)[0]
    assert all(f"`{reason}" in table for reason in (*REASONS, *STORE_REASONS, "store:"))
