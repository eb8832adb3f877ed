"""Facet evaluator nodes (decision-making, communication, safety): q and r0 in, rationales out."""

from __future__ import annotations

from typing import Any

from nodes.context import NodeContext, call_record, continue_chat
from nodes.parsing import parse_rationales
from state.config import FacetName
from state.graph_state import FacetVerdict, GraphState

PROMPT_OF: dict[FacetName, str] = {
    "decision": "eval_decision",
    "communication": "eval_communication",
    "safety": "eval_safety",
}


def make_evaluator(ctx: NodeContext, facet: FacetName):
    prompt = ctx.prompt(PROMPT_OF[facet])
    sampling = ctx.config.sampling_for("evaluate")
    prefill = ctx.config.evaluator_prefill or ""

    async def evaluate(state: GraphState) -> dict[str, Any]:
        text = prompt.render(question=state["query"], response=state["generation"].answer)
        messages = [{"role": "user", "content": text}]
        if prefill:
            messages.append({"role": "assistant", "content": prefill})
            completion = await continue_chat(ctx, messages, sampling)
        else:
            completion = await ctx.client.chat(messages, sampling)
        # A reasoning model's thoughts arrive separately; only the visible text carries the rationales.
        raw = prefill + completion.text
        rationales, error = parse_rationales(raw)
        verdict = FacetVerdict(facet=facet, rationales=rationales, raw=raw, parse_error=error)
        return {"verdicts": [verdict], "calls": [call_record(f"eval_{facet}", completion)]}

    evaluate.__name__ = f"eval_{facet}"
    return evaluate
