"""generate node: the backbone answers q; reasoning t0 and answer r0 are split apart."""

from __future__ import annotations

from typing import Any

from nodes.context import NodeContext, call_record
from nodes.parsing import split_reasoning
from state.graph_state import Generation, GraphState


def make_generate(ctx: NodeContext):
    sampling = ctx.config.sampling_for("generate")

    async def generate(state: GraphState) -> dict[str, Any]:
        messages = [*ctx.system_messages, {"role": "user", "content": state["query"]}]
        completion = await ctx.client.chat(messages, sampling)
        reasoning, answer = split_reasoning(completion.text, completion.reasoning)
        return {
            "generation": Generation(reasoning=reasoning, answer=answer, finish_reason=completion.finish_reason),
            "calls": [call_record("generate", completion)],
        }

    return generate
