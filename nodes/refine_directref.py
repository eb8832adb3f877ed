"""DirectRef refiner (paper default): rewrite r0 from q, r0 and the merged rationales."""

from __future__ import annotations

from typing import Any

from nodes.context import NodeContext, call_record
from nodes.merge import ordered_rationales
from nodes.parsing import split_reasoning
from state.graph_state import GraphState, Refinement


def make_directref(ctx: NodeContext):
    prompt = ctx.prompt("refine_directref")
    sampling = ctx.config.sampling_for("refine")

    async def refine_directref(state: GraphState) -> dict[str, Any]:
        reflection = "\n".join(ordered_rationales(state.get("verdicts", [])))
        text = prompt.render(question=state["query"], response=state["generation"].answer, reflection=reflection)
        completion = await ctx.client.chat([{"role": "user", "content": text}], sampling)
        _, answer = split_reasoning(completion.text, completion.reasoning)
        refinement = Refinement(reasoning=state["merged_reasoning"], answer=answer, refined=True, method="directref")
        return {"refinement": refinement, "calls": [call_record("refine_directref", completion)]}

    return refine_directref
