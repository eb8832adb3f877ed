"""Merge node: t' = t0 followed by the facet rationales, joined so they read as one chain of thought."""

from __future__ import annotations

from typing import Any

from state.config import FACETS
from state.graph_state import FacetVerdict, GraphState, Refinement


def _as_clause(sentence: str) -> str:
    """'We should x' → 'we should x.' so it reads after a connective and ends a sentence."""
    sentence = sentence.strip()
    if sentence[:2].lower() == "we":
        sentence = "we" + sentence[2:]
    return sentence if sentence[-1:] in ".!?" else sentence + "."


def join_with_connectives(rationales: list[str]) -> str:
    """'First, …', 'Next, …' (middle ones), 'Finally, …'; a single rationale gets 'Also, …'."""
    if not rationales:
        return ""
    if len(rationales) == 1:
        return f"Also, {_as_clause(rationales[0])}"
    parts = []
    for i, sentence in enumerate(rationales):
        word = "First" if i == 0 else "Finally" if i == len(rationales) - 1 else "Next"
        parts.append(f"{word}, {_as_clause(sentence)}")
    return " ".join(parts)


def ordered_rationales(verdicts: list[FacetVerdict]) -> list[str]:
    """All rationales in facet order (decision, communication, safety), whatever order they fanned in."""
    by_facet = {v.facet: v for v in verdicts}
    return [r for f in FACETS if f in by_facet for r in by_facet[f].rationales]


def merge_reasoning(t0: str, verdicts: list[FacetVerdict]) -> str:
    """t' = t0 + joined rationales (either may be empty)."""
    joined = join_with_connectives(ordered_rationales(verdicts))
    return "\n\n".join(part for part in (t0.strip(), joined) if part)


async def merge(state: GraphState) -> dict[str, Any]:
    """LangGraph node: write t'; when no facet has anything to add, r' = r0 and the refiner is skipped."""
    generation, verdicts = state["generation"], state.get("verdicts", [])
    merged = merge_reasoning(generation.reasoning, verdicts)
    if ordered_rationales(verdicts):
        return {"merged_reasoning": merged}
    skipped = Refinement(reasoning=merged, answer=generation.answer, refined=False, method="skipped")
    return {"merged_reasoning": merged, "refinement": skipped}
