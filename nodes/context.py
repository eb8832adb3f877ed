"""What every LLM node shares: the run config, the client and prompt lookup."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from nodes.llm import ChatClient, Completion, Message
from prompts.loader import Prompt, load_prompt
from state.config import RunConfig
from state.graph_state import CallRecord


@dataclass
class NodeContext:
    """Bound into the node closures by graph.build.build_graph."""

    config: RunConfig
    client: ChatClient

    def prompt(self, name: str) -> Prompt:
        return load_prompt(name, self.config.prompts_dir)

    @cached_property
    def system_messages(self) -> list[Message]:
        """The optional system turn that precedes every answer-producing call."""
        if not self.config.system_prompt:
            return []
        return [{"role": "system", "content": self.prompt(self.config.system_prompt).text.strip()}]


def call_record(node: str, completion: Completion) -> CallRecord:
    """Usage/timing of one call, for the trace and the store."""
    return CallRecord(
        node=node,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        latency_ms=round(completion.latency_ms, 2),
        endpoint=completion.endpoint,
        attempts=completion.attempts,
    )
