"""Filter node: keep (q, t', r') when the gate (nodes/gate/rules.py) finds no reason to drop it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nodes.gate.echo import template_index
from nodes.gate.rules import DEFAULT_MIN_WORDS, Record, Settings, first_reason
from nodes.gate.text import count_words
from nodes.gate.word_quality import WordLimits
from state.config import RunConfig
from state.graph_state import FacetVerdict, FilterVerdict, GraphState, Refinement


def judge(
    answer: str,
    verdicts: list[FacetVerdict],
    min_words: int = DEFAULT_MIN_WORDS,
    *,
    query: str,
    reasoning: str = "",
    calls: Iterable[Mapping[str, Any]] = (),
    settings: Settings | None = None,
) -> FilterVerdict:
    """Verdict for one triplet: the first gate rule that drops it names the reason (`settings` default to
    the packaged templates and `min_words`)."""
    settings = settings or Settings(echo=template_index(), min_answer_words=min_words)
    record = Record(query=query, reasoning=reasoning, answer=answer, calls=tuple(calls),
                    parse_errors=tuple((v.facet, v.parse_error) for v in verdicts))
    reason = first_reason(record, settings)
    return FilterVerdict(kept=reason is None, reason=reason, words=count_words(answer))


def run_settings(config: RunConfig) -> Settings:
    """The gate's settings in a run: its `min_answer_words`, word limits and the templates of its prompt set and
    `prompts_dir` (what the dataset builder reads back from the stored config)."""
    return Settings(echo=template_index(config.prompts_dir, config.prompt_set), min_answer_words=config.min_answer_words,
                    words=WordLimits(config.max_unknown_letters, config.max_word_letters))


def make_filter(settings: Settings):

    async def filter_node(state: GraphState) -> dict[str, FilterVerdict]:
        refinement: Refinement = state["refinement"]
        calls = [call.model_dump() for call in state.get("calls", [])]
        verdict = judge(refinement.answer, state.get("verdicts", []), query=state["query"],
                        reasoning=refinement.reasoning, calls=calls, settings=settings)
        return {"verdict": verdict}

    return filter_node
