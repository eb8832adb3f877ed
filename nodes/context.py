"""What every LLM node shares: the run config, the client and prompt lookup."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import jinja2

from nodes.llm.client import ChatClient, Completion, Message
from prompts.loader import Prompt, load_prompt
from state.config import RunConfig, Sampling
from state.graph_state import CallRecord


@dataclass
class NodeContext:
    """Bound into the node closures by graph.build.build_graph."""

    config: RunConfig
    client: ChatClient

    def prompt(self, name: str) -> Prompt:
        return load_prompt(name, self.config.prompts_dir, self.config.prompt_set)

    @cached_property
    def system_messages(self) -> list[Message]:
        """The optional system turn that precedes every answer-producing call."""
        if not self.config.system_prompt:
            return []
        return [{"role": "system", "content": self.prompt(self.config.system_prompt).text.strip()}]


@lru_cache(maxsize=8)
def _compile(source: str) -> jinja2.Template:
    return jinja2.Environment(keep_trailing_newline=True).from_string(source)


def render_chat(template_source: str, messages: list[Message], continue_final: bool) -> str:
    """Apply a chat template locally; with continue_final the last (assistant) turn is left open."""
    return _compile(template_source).render(messages=messages, continue_final=continue_final)


async def continue_chat(ctx: NodeContext, messages: list[Message], sampling: Sampling) -> Completion:
    """Continue the final assistant turn of `messages`: vLLM chat with continue_final_message, or the
    completions API with the chat template rendered here (`contgen_api: completions`)."""
    if ctx.config.contgen_api == "completions":
        name = ctx.config.chat_template
        template = ctx.prompt(name if "." in name else f"{name}.jinja")
        return await ctx.client.complete(render_chat(template.text, messages, True), sampling)
    return await ctx.client.chat(messages, sampling, continue_final=True)


def call_record(node: str, completion: Completion) -> CallRecord:
    """Usage/timing of one call, for the trace and the store."""
    return CallRecord(
        node=node,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        latency_ms=round(completion.latency_ms, 2),
        endpoint=completion.endpoint,
        attempts=completion.attempts,
        finish_reason=completion.finish_reason,
    )
