"""Filter node: keep (q, t', r') only when the answer is real, long enough and parsed (paper App. C)."""

from __future__ import annotations

import re

from state.graph_state import FacetVerdict, FilterVerdict, GraphState, Refinement

REFUSAL = re.compile(
    r"^\W*(?:i'?m sorry,? but |sorry,? )?i\s+(?:can(?:no|')t|cannot|am (?:not able|unable)|won'?t)\s+"
    r"(?:help|assist|provide|answer|give)",
    re.IGNORECASE,
)


def count_words(text: str) -> int:
    return len(text.split())


def judge(answer: str, verdicts: list[FacetVerdict], min_words: int = 50) -> FilterVerdict:
    """Verdict for one triplet; the first failing rule names the reason."""
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
    return FilterVerdict(kept=True, reason=None, words=words)


def make_filter(min_words: int):
    async def filter_node(state: GraphState) -> dict[str, FilterVerdict]:
        refinement: Refinement = state["refinement"]
        return {"verdict": judge(refinement.answer, state.get("verdicts", []), min_words)}

    return filter_node
