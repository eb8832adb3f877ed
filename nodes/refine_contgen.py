"""ContGen refiner: continue the assistant turn pre-filled with t', so r' is conditioned on it.

Two transports: vLLM chat with continue_final_message (the default), or the completions API with the
chat template applied here (for servers without continue_final_message, e.g. the embedded llama.cpp).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2

from nodes.context import NodeContext, call_record
from nodes.llm import Completion, Message
from nodes.parsing import split_reasoning
from state.graph_state import GraphState, Refinement


@lru_cache(maxsize=8)
def _compile(source: str) -> jinja2.Template:
    return jinja2.Environment(keep_trailing_newline=True).from_string(source)


def render_chat(template_source: str, messages: list[Message], continue_final: bool) -> str:
    """Apply a chat template locally; with continue_final the last turn is left open."""
    return _compile(template_source).render(messages=messages, continue_final=continue_final)


def continuation_answer(completion: Completion) -> str:
    """The answer in a continuation. Text after a stray </think> counts; a parser that filed the whole
    continuation under reasoning (no end tag seen) still gives it back as the answer."""
    reasoning, answer = split_reasoning(completion.text)
    if not answer and not reasoning and completion.reasoning:
        return completion.reasoning.strip()
    return answer


def make_contgen(ctx: NodeContext):  # noqa: ANN201 - returns a LangGraph node
    prefill = ctx.prompt("contgen_prefill")
    sampling = ctx.config.sampling_for("refine")
    template = ctx.prompt(ctx.config.chat_template if "." in ctx.config.chat_template else f"{ctx.config.chat_template}.jinja")

    async def refine_contgen(state: GraphState) -> dict[str, Any]:
        messages = [
            *ctx.system_messages,
            {"role": "user", "content": state["query"]},
            {"role": "assistant", "content": prefill.render(reasoning=state["merged_reasoning"])},
        ]
        if ctx.config.contgen_api == "completions":
            completion = await ctx.client.complete(render_chat(template.text, messages, True), sampling)
        else:
            completion = await ctx.client.chat(messages, sampling, continue_final=True)
        refinement = Refinement(
            reasoning=state["merged_reasoning"], answer=continuation_answer(completion), refined=True, method="contgen"
        )
        return {"refinement": refinement, "calls": [call_record("refine_contgen", completion)]}

    return refine_contgen
