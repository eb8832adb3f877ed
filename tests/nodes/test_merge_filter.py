"""Merge (t' = t0 + rationales with connectives, N/A skip) and filter (keep/drop with a reason)."""

from __future__ import annotations

import asyncio
import inspect
import itertools
from typing import Any

import pytest

from nodes.filter import judge, make_filter
from nodes.gate.echo import template_index
from nodes.gate.rules import Settings
from nodes.merge import join_with_connectives, merge, merge_reasoning, ordered_rationales
from state.graph_state import FacetVerdict, FilterVerdict, Generation, Refinement

Q = "My child has had a fever since yesterday, what should I do?"


def verdict(facet: str, *rationales: str, error: str | None = None) -> FacetVerdict:
    return FacetVerdict(
        facet=facet, rationales=list(rationales), raw="\n".join(rationales), parse_error=error
    )


def call(node: Any, state: dict[str, Any]) -> Any:
    """Run a LangGraph node function, sync or async."""
    out = node(state)
    return asyncio.run(out) if inspect.iscoroutine(out) else out


def words(n: int) -> str:
    return " ".join(f"w{i}" for i in range(n))


# -- connectives -------------------------------------------------------------------------------------


def test_no_rationales_join_to_nothing() -> None:
    assert join_with_connectives([]) == ""


def test_one_rationale() -> None:
    assert (
        join_with_connectives(["We should ask the child's weight."])
        == "Also, we should ask the child's weight."
    )


def test_two_rationales() -> None:
    assert join_with_connectives(["We should ask the child's weight", "We should warn about aspirin."]) == (
        "First, we should ask the child's weight. Finally, we should warn about aspirin."
    )


def test_three_rationales() -> None:
    assert join_with_connectives(["We should a.", "We should b?", "We should c"]) == (
        "First, we should a. Next, we should b? Finally, we should c."
    )


def test_four_rationales_use_next_for_every_middle_one() -> None:
    assert join_with_connectives(["We should a", "We should b", "We should c", "We should d"]) == (
        "First, we should a. Next, we should b. Next, we should c. Finally, we should d."
    )


# -- merge -------------------------------------------------------------------------------------------

DECISION = verdict(
    "decision", "We should ask the child's weight.", "We should ask how long the fever has lasted."
)
COMMUNICATION = verdict("communication")  # N/A
SAFETY = verdict("safety", "We should tell the user to seek care now if the child cannot be woken.")
EXPECTED_JOINED = (
    "First, we should ask the child's weight. "
    "Next, we should ask how long the fever has lasted. "
    "Finally, we should tell the user to seek care now if the child cannot be woken."
)


@pytest.mark.parametrize("order", list(itertools.permutations([DECISION, COMMUNICATION, SAFETY])))
def test_facet_order_does_not_depend_on_fan_in_order(order: tuple[FacetVerdict, ...]) -> None:
    assert ordered_rationales(list(order)) == [*DECISION.rationales, *SAFETY.rationales]
    assert merge_reasoning("", list(order)) == EXPECTED_JOINED


def test_t0_comes_first_then_the_rationales() -> None:
    t0 = "  The child is three and has had a fever for two days.  "
    assert merge_reasoning(t0, [SAFETY, DECISION]) == (
        "The child is three and has had a fever for two days.\n\n" + EXPECTED_JOINED
    )


def test_t0_only_when_no_rationales() -> None:
    assert merge_reasoning("thinking", [COMMUNICATION]) == "thinking"


def test_merge_node_with_rationales_leaves_refinement_to_the_refiner() -> None:
    state = {
        "query": "q",
        "generation": Generation(reasoning="t0", answer="r0"),
        "verdicts": [SAFETY, COMMUNICATION],
    }
    update = call(merge, state)
    assert update == {
        "merged_reasoning": "t0\n\n"
        "Also, we should tell the user to seek care now if the child cannot be woken."
    }


def test_all_na_skips_refinement_with_r_prime_equal_to_r0() -> None:
    na = [verdict("decision"), verdict("communication"), verdict("safety")]
    state = {
        "query": "q",
        "generation": Generation(reasoning="t0", answer="the first answer"),
        "verdicts": na,
    }
    update = call(merge, state)
    assert update["merged_reasoning"] == "t0"
    assert update["refinement"] == Refinement(
        reasoning="t0", answer="the first answer", refined=False, method="skipped"
    )


# -- filter ------------------------------------------------------------------------------------------


def test_49_words_is_too_short_and_50_is_kept() -> None:
    assert judge(words(49), [], query=Q) == FilterVerdict(kept=False, reason="too_short", words=49)
    assert judge(words(50), [], query=Q) == FilterVerdict(kept=True, reason=None, words=50)


def test_min_words_is_configurable() -> None:
    assert judge(words(10), [], min_words=10, query=Q).kept
    assert judge(words(9), [], min_words=10, query=Q).reason == "too_short"


@pytest.mark.parametrize("answer", ["", "   \n "])
def test_no_answer(answer: str) -> None:
    assert judge(answer, [], query=Q) == FilterVerdict(kept=False, reason="no_answer", words=0)


@pytest.mark.parametrize(
    "answer",
    [
        "I'm sorry, but I can't help with that.",
        "I cannot provide medical advice.",
        "Sorry, I can't assist with this request.",
    ],
)
def test_refused(answer: str) -> None:
    assert judge(answer + " " + words(60), [], query=Q).reason == "refused"


def test_an_answer_mentioning_inability_later_is_not_a_refusal() -> None:
    answer = "Keep the child drinking fluids. " + words(50) + " I cannot examine your child, so see a doctor."
    assert judge(answer, [], query=Q).kept


def test_parse_failure_names_the_facet_and_wins_over_other_reasons() -> None:
    bad = verdict("safety", error="no 'We should …' line and no N/A")
    assert judge(words(80), [DECISION, bad], query=Q) == FilterVerdict(
        kept=False, reason="parse_failed:safety", words=80
    )
    assert judge("", [bad], query=Q).reason == "parse_failed:safety"


def test_kept() -> None:
    assert judge(words(120), [DECISION, COMMUNICATION, SAFETY], query=Q) == FilterVerdict(
        kept=True, reason=None, words=120
    )


def test_filter_node_judges_the_refined_answer() -> None:
    node = make_filter(Settings(echo=template_index()))
    state = {
        "query": "q",
        "generation": Generation(answer=words(80)),
        "verdicts": [COMMUNICATION],
        "refinement": Refinement(reasoning="", answer=words(20), refined=True, method="directref"),
    }
    assert call(node, state) == {"verdict": FilterVerdict(kept=False, reason="too_short", words=20)}
