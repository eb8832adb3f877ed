"""How many new tokens one call may ask for, so that every request fits the served model's context.

vLLM refuses (HTTP 400) a request whose prompt plus `max_tokens` exceeds the model's `max_model_len`.
The configured `max_tokens` (the paper's 40960) is therefore a ceiling: a call asks for at most what the
endpoint's context leaves after its prompt. The common case needs no round trip: an upper bound on the
prompt's length in tokens, from its UTF-8 size, shows that the ceiling fits. Only when it may not is
the prompt counted exactly, by the server's /tokenize (vLLM), or the bound is used where that is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nodes.llm.client import LLMError, Message

# A call that cannot leave the model this many new tokens fails as a context overflow instead.
MIN_NEW_TOKENS = 16
# Tokens a chat template may add around a conversation (a default system turn, the generation prompt) and
# around each turn (role markers, separators). Generous on purpose: the bound must never be too small.
TEMPLATE_SLACK = 128
PER_TURN_SLACK = 16


def prompt_bound(messages: list[Message] | None = None, prompt: str | None = None) -> int:
    """An upper bound on the prompt's tokens without a tokenizer: byte-level BPE (and SentencePiece with
    byte fallback) never needs more than one token per UTF-8 byte; the template adds a bounded amount."""
    if prompt is not None:
        return len(prompt.encode("utf-8", "replace")) + TEMPLATE_SLACK
    turns = messages or []
    size = sum(len(str(m.get("content", "")).encode("utf-8", "replace")) for m in turns)
    return size + PER_TURN_SLACK * len(turns) + TEMPLATE_SLACK


def tokenize_url(base_url: str) -> str:
    """vLLM serves /tokenize beside /v1, at the server's root."""
    root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
    return f"{root}/tokenize"


def tokenize_body(model: str, request: dict[str, Any]) -> dict[str, Any]:
    """The /tokenize request that counts the prompt of chat or completions `request` exactly as sent."""
    if "prompt" in request:
        return {"model": model, "prompt": request["prompt"]}
    body: dict[str, Any] = {"model": model, "messages": request["messages"]}
    if request.get("continue_final_message"):
        body.update(continue_final_message=True, add_generation_prompt=False)
    for key in ("chat_template", "chat_template_kwargs", "tools"):  # they change what the template renders
        if key in request:
            body[key] = request[key]
    return body


@dataclass(frozen=True, slots=True)
class Fit:
    """The max_tokens one call sends, and how it was decided."""

    max_tokens: int
    lowered: bool  # below the configured ceiling
    counted: bool  # prompt counted by the server (else: the upper bound)


def fit(ceiling: int, context: int, prompt_tokens: int, *, counted: bool) -> Fit:
    """The ceiling, or what the context leaves after the prompt when that is less. Raises a `context`
    LLMError when fewer than MIN_NEW_TOKENS would be left."""
    room = context - prompt_tokens
    if room < min(MIN_NEW_TOKENS, ceiling):
        how = "" if counted else " at most (estimated from its length; the server has no /tokenize)"
        raise LLMError(
            "context",
            f"the prompt has {prompt_tokens} tokens{how}, the model's context is {context} tokens, so {max(room, 0)} "
            f"are left for the answer (at least {min(MIN_NEW_TOKENS, ceiling)} needed); shorten the input or "
            "serve the model with a longer context (vLLM --max-model-len)",
            extra={"prompt_tokens": prompt_tokens, "context": context},
        )
    allowed = min(ceiling, room)
    return Fit(allowed, allowed < ceiling, counted)


def lowered_note(label: str, ceiling: int, context: int, url: str, counted: bool) -> str:
    """The one line said once per node when its ceiling does not fit an endpoint's context."""
    how = "counted by the server's /tokenize" if counted else "estimated from its length"
    return (
        f"{label}: max_tokens {ceiling} does not always fit the {context}-token context of {url}; "
        f"each call asks for at most {context} minus its prompt ({how})"
    )
