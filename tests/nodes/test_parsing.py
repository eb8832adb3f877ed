"""Pure parsers: reasoning/answer split and facet rationale parsing, with hand-written expectations."""

from __future__ import annotations

import pytest

from nodes.parsing import parse_rationales, split_reasoning

# -- split_reasoning ---------------------------------------------------------------------------------


def test_reasoning_content_from_server_wins() -> None:
    assert split_reasoning("The answer.", "Some thoughts.") == ("Some thoughts.", "The answer.")


def test_reasoning_content_given_and_text_has_a_think_block_too() -> None:
    # The server already split it; a leftover block in the content is not part of the answer.
    assert split_reasoning("<think>old</think>\nThe answer.", " server thoughts ") == (
        "server thoughts",
        "The answer.",
    )


def test_blank_reasoning_content_falls_back_to_the_text() -> None:
    assert split_reasoning("<think>t</think>a", "   ") == ("t", "a")


def test_think_block() -> None:
    assert split_reasoning("<think>\nLet me weigh it.\n</think>\n\nDrink water.") == (
        "Let me weigh it.",
        "Drink water.",
    )


def test_think_block_case_insensitive_and_empty() -> None:
    assert split_reasoning("<THINK>x</THINK> ans") == ("x", "ans")
    assert split_reasoning("<think></think>\nans") == ("", "ans")


def test_unclosed_think_is_all_reasoning_and_no_answer() -> None:
    assert split_reasoning("<think>\nI was cut off while thinking") == ("I was cut off while thinking", "")


def test_stray_closing_tag_splits_there() -> None:
    # Templates that pre-fill "<think>" leave only the closing tag in the generated text.
    assert split_reasoning("step one, step two\n</think>\n\nThe answer.") == (
        "step one, step two",
        "The answer.",
    )


def test_no_reasoning_at_all() -> None:
    assert split_reasoning("  Just an answer.\n") == ("", "Just an answer.")
    assert split_reasoning("Just an answer.", None) == ("", "Just an answer.")


# -- parse_rationales --------------------------------------------------------------------------------


def test_plain_lines() -> None:
    text = "We should ask the user's age.\nWe should ask about current medicines."
    assert parse_rationales(text) == (
        ["We should ask the user's age.", "We should ask about current medicines."],
        None,
    )


def test_bullets_numbering_and_blank_lines() -> None:
    text = (
        "- We should ask about allergies.\n\n"
        "* We should ask about pregnancy.\n"
        "• We should ask about travel.\n"
        "1. We should ask about fever height.\n"
        "2) We should ask about duration.\n"
        "(3) We should ask about rash.\n"
        "a) We should ask about fluids.\n"
        "\n   \n"
    )
    assert parse_rationales(text) == (
        [
            "We should ask about allergies.",
            "We should ask about pregnancy.",
            "We should ask about travel.",
            "We should ask about fever height.",
            "We should ask about duration.",
            "We should ask about rash.",
            "We should ask about fluids.",
        ],
        None,
    )


def test_quotes_are_stripped() -> None:
    text = "\"We should ask about weight.\"\n“We should ask about sleep.”\n- 'We should ask about diet.'"
    assert parse_rationales(text) == (
        ["We should ask about weight.", "We should ask about sleep.", "We should ask about diet."],
        None,
    )


def test_markdown_bold_is_stripped() -> None:
    text = "\n".join(
        [
            "**We should ask about age.**",
            "1. **We should** ask about medications.",
            "- __We should ask about diet.__",
        ]
    )
    assert parse_rationales(text) == (
        ["We should ask about age.", "We should ask about medications.", "We should ask about diet."],
        None,
    )


def test_other_modal_openings_count() -> None:
    assert parse_rationales("We need to ask about allergies.\nWe must warn about dosing.") == (
        ["We need to ask about allergies.", "We must warn about dosing."],
        None,
    )


@pytest.mark.parametrize(
    "text",
    [
        "N/A",
        "N/A.",
        "n/a",
        "**N/A**",
        "None",
        "none.",
        "- N/A",
        '"N/A"',
        "NA",
        "Not applicable.",
        "  N / A  ",
        "N/A: nothing is missing.",
        "N/A - the answer already covers it",
    ],
)
def test_na_variants_mean_nothing_to_add(text: str) -> None:
    assert parse_rationales(text) == ([], None)


def test_na_after_stray_reasoning_lines() -> None:
    text = "Let me check each perspective.\nThe answer covers the essentials.\n\nN/A"
    assert parse_rationales(text) == ([], None)


def test_stray_reasoning_lines_are_ignored() -> None:
    text = (
        "Okay, the user is a parent and the child is three.\n"
        "Step 1: the question lacks weight.\n"
        "We should ask for the child's weight.\n"
        "That covers it."
    )
    assert parse_rationales(text) == (["We should ask for the child's weight."], None)


def test_think_block_before_the_lines_is_ignored() -> None:
    text = "<think>\nWe should not count this.\nN/A maybe?\n</think>\nWe should ask about vaccinations."
    assert parse_rationales(text) == (["We should ask about vaccinations."], None)


def test_think_block_then_na() -> None:
    assert parse_rationales("<think>We should maybe ask.</think>\nN/A") == ([], None)


def test_rationales_win_over_a_stray_na() -> None:
    assert parse_rationales("N/A for safety.\nWe should ask about age.") == (
        ["We should ask about age."],
        None,
    )


def test_duplicates_collapse_keeping_first_order() -> None:
    text = "\n".join(
        [
            "We should ask about age.",
            "- We should ask about age.",
            "We should ask about sex.",
            "1. We should ask about age.",
        ]
    )
    assert parse_rationales(text) == (["We should ask about age.", "We should ask about sex."], None)


@pytest.mark.parametrize(
    "text",
    [
        "The answer is fine overall.",
        "Looks good to me!",
        '{"verdict": 1}',
        "Nothing.",
        "I think nothing is missing but not sure",
    ],
)
def test_garbage_is_a_parse_error(text: str) -> None:
    rationales, error = parse_rationales(text)
    assert rationales == []
    assert error is not None and "We should" in error


@pytest.mark.parametrize("text", ["", "   \n\n ", "<think>only thoughts</think>", "<think>cut off"])
def test_empty_is_a_parse_error(text: str) -> None:
    rationales, error = parse_rationales(text)
    assert rationales == []
    assert error == "empty evaluator output"
