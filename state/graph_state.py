"""The per-query graph state and each node's output."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, Field

from state.config import FacetName


class CallRecord(BaseModel):
    """Usage and timing of one LLM call made by a node."""

    node: str = Field(description="Node that made the call.")
    prompt_tokens: int = Field(0, description="Prompt tokens reported by the server.")
    completion_tokens: int = Field(0, description="Completion tokens reported by the server.")
    latency_ms: float = Field(0.0, description="Wall time of the call, retries included.")
    endpoint: str = Field("", description="Base URL that answered.")
    attempts: int = Field(1, description="HTTP attempts the call needed.")
    finish_reason: str | None = Field(None, description="Server finish reason (length: cut off at max_tokens).")


class Generation(BaseModel):
    """The backbone's first answer, reasoning t0 kept apart from answer r0."""

    reasoning: str = Field("", description="t0: reasoning content or the <think> block; empty for non-reasoning models.")
    answer: str = Field(description="r0: the answer part.")
    finish_reason: str | None = Field(None, description="Server finish reason (length means truncated).")


class FacetVerdict(BaseModel):
    """One facet evaluator's result: rationales, or none when the facet says N/A."""

    facet: FacetName = Field(description="Which facet evaluated the answer.")
    rationales: list[str] = Field(default_factory=list, description="Parsed 'We should …' lines; empty means N/A.")
    raw: str = Field("", description="The evaluator's text as returned.")
    parse_error: str | None = Field(None, description="Why the output could not be read, if it could not.")


class Refinement(BaseModel):
    """Merged reasoning t' and refined answer r'."""

    reasoning: str = Field(description="t': t0 followed by the facet rationales joined with connectives.")
    answer: str = Field(description="r': refined answer (r0 when the refiner was skipped).")
    refined: bool = Field(description="False when every facet said N/A and the refiner was skipped.")
    method: Literal["directref", "contgen", "skipped"] = Field(description="How r' was produced.")


class FilterVerdict(BaseModel):
    """Whether the triplet (q, t', r') is kept for training, and why not."""

    kept: bool = Field(description="True when the triplet passes every filter.")
    reason: str | None = Field(
        None,
        description="The first gate rule that drops it (one of nodes.gate.rules.REASONS; parse_failed:<facet> "
        "names the facet); None when kept.",
    )
    words: int = Field(0, description="Words in the final answer.")


class InputState(TypedDict):
    """What a caller supplies: the query and, optionally, its sampled attributes."""

    query: str
    attributes: dict[str, Any] | None


class GraphState(InputState, total=False):
    """Full state; evaluator verdicts and call records fan in through list-append reducers."""

    generation: Generation
    verdicts: Annotated[list[FacetVerdict], operator.add]
    merged_reasoning: str
    refinement: Refinement
    verdict: FilterVerdict
    calls: Annotated[list[CallRecord], operator.add]
