"""The small profile's grammars: what a bounded node may write, and what it may not."""

from __future__ import annotations

import re

import pytest

from state.grammars import ANSWER, QUESTION, RATIONALES, WORD_CHARS, rationale_lines, sentence, sentences

SENTENCE = "Chest pain with shortness of breath can be a sign of a heart attack."  # 14 words
ANSWER_OK = " ".join([SENTENCE] * 5)
GLUED = "a" * 30  # one "word" of 30 letters


def full(pattern: str, text: str) -> bool:
    return re.fullmatch(pattern, text) is not None


def test_answer_of_five_to_seven_whole_sentences_matches() -> None:
    assert full(ANSWER, ANSWER_OK)
    assert full(ANSWER, " ".join([SENTENCE] * 7))
    assert full(ANSWER, "Take it with food, twice a day; stop if a rash or 50% more swelling appears. " * 4
                + "See a doctor within 2-3 days if it is no better.")


@pytest.mark.parametrize("text", [
    " ".join([SENTENCE] * 8),  # run-on: an eighth sentence
    " ".join([SENTENCE] * 4),  # too few sentences
    ANSWER_OK.replace("heart", GLUED, 1),  # a glued 30-letter word
    ANSWER_OK[:-1],  # the last sentence unfinished
    ANSWER_OK + " See a doctor because",  # cut off mid-sentence
    " ".join([SENTENCE.replace(".", " and") + " " + SENTENCE] + [SENTENCE] * 4),  # a 28-word sentence
])
def test_answer_refuses_run_ons_glued_words_and_unfinished_sentences(text: str) -> None:
    assert not full(ANSWER, text)


def test_rationales_continue_the_we_should_prefill() -> None:
    assert full(RATIONALES, " ask how old the patient is and which medicines she takes.")
    three = " ask about her age.\nWe should warn about chest pain.\nWe should suggest seeing a doctor today."
    assert full(RATIONALES, three)


@pytest.mark.parametrize("text", [
    " ask.",  # 3 words with the prefill: under 5
    " ask about her age and weight and height and medicines and allergies and sleep.",  # 16 words
    " ask about her age.\nWe should a b c.\nWe should d e f.\nWe should g h i.",  # four lines
    f" ask about her {GLUED} please.",  # glued word
    " ask about her age and",  # unfinished
])
def test_rationales_refuse_long_many_glued_or_unfinished_lines(text: str) -> None:
    assert not full(RATIONALES, text)


def test_query_ends_with_a_whole_question() -> None:
    assert full(QUESTION, "My father is 72 and has had a cough for three weeks. Should he see a doctor?")
    assert full(QUESTION, "What dose of ibuprofen is safe for a child of 20 kg?")


@pytest.mark.parametrize("text", [
    "My father is 72 and has had a cough for three weeks.",  # no question
    "My father is 72 and has had a cough for three weeks. Should he see",  # cut off mid-question
    "Is it bad?",  # 3 words: too short to be a whole question
    f"Is {GLUED} a sign of flu in my son?",
    "Should I worry about my cough at night? It keeps me awake.",  # a question, then more
])
def test_query_refuses_unfinished_or_glued_text(text: str) -> None:
    assert not full(QUESTION, text)


def test_word_bound_is_exact() -> None:
    one = sentence(2, 2)
    assert full(one, "Take " + "a" * WORD_CHARS + ".")
    assert not full(one, "Take " + "a" * (WORD_CHARS + 1) + ".")
    assert full(sentences((1, 1), (2, 3)), "Rest well.")
    assert full(rationale_lines((1, 1), (4, 4), prefill="Ask"), " her age today.")


@pytest.mark.parametrize("text", [
    "Take 2-3 tablets of 500 mg.", "My 3-year-old has 39 fever.", "It rose 50% in 2019.", "Use mg/kg doses now.",
])
def test_words_may_hold_short_numbers(text: str) -> None:
    assert full(sentence(2, 10), text)


@pytest.mark.parametrize("text", [
    "Patient id 101278781561685207 seen.",  # an id: one token per digit
    "Seen on 2020-08-15 again.",  # a date
    "Dose 12345 units.",  # five digits
])
def test_words_refuse_long_digit_runs(text: str) -> None:
    """A 135M model under a word count writes dates and ids, a token per digit: its query overran the budget."""
    assert not full(sentence(2, 10), text)
