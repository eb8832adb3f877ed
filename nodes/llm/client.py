"""The one LLM client interface the nodes depend on, and its result and error types.

It imports no client implementation: `nodes.llm.factory.make_client` picks one, so the implementations can
import these types without a cycle.
"""

from __future__ import annotations

from collections.abc import Awaitable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from state.config import Sampling

Message = dict[str, str]
T = TypeVar("T")

# The node (or role: query, teacher, policy, grader) whose calls are in progress; clients name it in notes.
call_label: ContextVar[str] = ContextVar("call_label", default="call")


async def labelled(label: str, call: Awaitable[T]) -> T:
    """Await `call` with `call_label` set to `label` (restored afterwards)."""
    token = call_label.set(label)
    try:
        return await call
    finally:
        call_label.reset(token)


@dataclass(slots=True)
class Completion:
    """One finished LLM call: text and reasoning kept apart, with usage and timing."""

    text: str
    reasoning: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    endpoint: str = ""
    attempts: int = 1


@dataclass
class LLMError(Exception):
    """A call that did not produce a usable completion. Never turned into a fake answer.

    kind: http | timeout | connection | malformed | empty | model | config | context
    """

    kind: str
    message: str
    status: int | None = None
    retryable: bool = False
    attempts: int = 1
    endpoint: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        where = f" from {self.endpoint}" if self.endpoint else ""
        status = f" {self.status}" if self.status else ""
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{self.kind}{status}{where}{tries}: {self.message}"


class EndpointsDown(LLMError):
    """Every endpoint has been out of rotation for too long: the run must stop, not fail each query."""


class ChatClient(Protocol):
    """What nodes need from an LLM: chat turns (optionally continuing the last assistant turn) and raw text."""

    async def chat(
        self,
        messages: list[Message],
        sampling: Sampling,
        *,
        continue_final: bool = False,
        response_format: dict[str, Any] | None = None,
    ) -> Completion: ...

    async def complete(self, prompt: str, sampling: Sampling) -> Completion: ...

    async def model_name(self) -> str: ...

    async def aclose(self) -> None: ...
