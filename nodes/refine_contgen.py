"""ContGen refiner: continue the assistant turn pre-filled with t', so r' is conditioned on it.

Two transports: vLLM chat with continue_final_message (the default), or the completions API with the
chat template applied here (for servers without continue_final_message, e.g. the embedded llama.cpp).
"""

from __future__ import annotations

from typing import Any

from nodes.context import NodeContext, call_record, continue_chat
from nodes.llm.client import Completion
from nodes.parsing import split_reasoning
from state.graph_state import GraphState, Refinement


def continuation_answer(completion: Completion) -> str:
    """The answer in a continuation. Text after a stray </think> counts; a parser that filed the whole
    continuation under reasoning (no end tag seen) still gives it back as the answer."""
    reasoning, answer = split_reasoning(completion.text)
    if not answer and not reasoning and completion.reasoning:
        return completion.reasoning.strip()
    return answer


def make_contgen(ctx: NodeContext):
    prefill = ctx.prompt("contgen_prefill")
    sampling = ctx.config.sampling_for("refine")

    async def refine_contgen(state: GraphState) -> dict[str, Any]:
        messages = [
            *ctx.system_messages,
            {"role": "user", "content": state["query"]},
            {"role": "assistant", "content": prefill.render(reasoning=state["merged_reasoning"])},
        ]
        completion = await continue_chat(ctx, messages, sampling)
        refinement = Refinement(
            reasoning=state["merged_reasoning"], answer=continuation_answer(completion), refined=True, method="contgen"
        )
        return {"refinement": refinement, "calls": [call_record("refine_contgen", completion)]}

    return refine_contgen
