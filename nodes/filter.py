"""Filter node: keep (q, t', r') only when the answer is real, long enough and parsed (paper App. C), and
passes the data-quality gate (nodes/gate: truncated, repetition, prompt_echo)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nodes.gate.echo import EchoIndex, template_index
from nodes.gate.rules import gate_reason
from state.graph_state import FacetVerdict, FilterVerdict, GraphState, Refinement

REFUSAL = re.compile(
    r"^\W*(?:i'?m sorry,? but |sorry,? )?i\s+(?:can(?:no|')t|cannot|am (?:not able|unable)|won'?t)\s+"
    r"(?:help|assist|provide|answer|give)",
    re.IGNORECASE,
)


def count_words(text: str) -> int:
    return len(text.split())


def judge(
    answer: str,
    verdicts: list[FacetVerdict],
    min_words: int = 50,
    *,
    query: str = "",
    reasoning: str = "",
    calls: Iterable[Mapping[str, Any]] = (),
    echo: EchoIndex | None = None,
) -> FilterVerdict:
    """Verdict for one triplet; the first failing rule names the reason (the paper's rules, then the gate's
    over the calls that produced it; `echo` defaults to the packaged templates)."""
    words = count_words(answer)
    for v in verdicts:
        if v.parse_error is not None:
            return FilterVerdict(kept=False, reason=f"parse_failed:{v.facet}", words=words)
    if words == 0:
        return FilterVerdict(kept=False, reason="no_answer", words=0)
    if REFUSAL.match(answer):
        return FilterVerdict(kept=False, reason="refused", words=words)
    if words < min_words:
        return FilterVerdict(kept=False, reason="too_short", words=words)
    gated = gate_reason(query, reasoning, answer, calls, echo or template_index())
    if gated is not None:
        return FilterVerdict(kept=False, reason=gated, words=words)
    return FilterVerdict(kept=True, reason=None, words=words)


def make_filter(min_words: int, prompts_dir: Path | None = None, prompt_set: str = "paper"):
    echo = template_index(prompts_dir, prompt_set)

    async def filter_node(state: GraphState) -> dict[str, FilterVerdict]:
        refinement: Refinement = state["refinement"]
        calls = [call.model_dump() for call in state.get("calls", [])]
        verdict = judge(
            refinement.answer,
            state.get("verdicts", []),
            min_words,
            query=state["query"],
            reasoning=refinement.reasoning,
            calls=calls,
            echo=echo,
        )
        return {"verdict": verdict}

    return filter_node
