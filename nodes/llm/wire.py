"""The wire format of OpenAI-compatible servers: JSON coding, request bodies, error texts, usage counts."""

from __future__ import annotations

import json
import re
from typing import Any

from state.config import Sampling

try:  # orjson is ~5x faster at these payload sizes; plain json otherwise
    import orjson

    loads: Any = orjson.loads

    def dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)
except ImportError:  # pragma: no cover - depends on the environment
    loads = json.loads

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj).encode()


# C0 and C1 control characters (a server's error text can carry escapes that would restyle a terminal).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def one_line(text: str, limit: int = 240) -> str:
    """`text` on one line without control characters, cut to `limit` characters."""
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def error_message(raw: bytes) -> str:
    """The server's error text from an OpenAI/vLLM-style error body (or the raw body), one line."""
    try:
        body = loads(raw)
    except ValueError:
        return one_line(raw.decode("utf-8", "replace")) or "(empty body)"
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return one_line(str(err["message"]))
        if isinstance(err, str):
            return one_line(err)
        if body.get("detail"):
            return one_line(str(body["detail"]))
    return one_line(raw.decode("utf-8", "replace"))


def is_context_error(status: int, message: str) -> bool:
    """A 400 saying that prompt plus max_tokens exceed the model's context (vLLM's and OpenAI's wording)."""
    text = message.lower()
    return status == 400 and ("maximum context length" in text or "max_model_len" in text)


def request_body(model: str, sampling: Sampling) -> dict[str, Any]:
    """The sampling part of a chat/completions request; top_k rides along as a vLLM extra field."""
    body: dict[str, Any] = {
        "model": model,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_tokens,
    }
    if sampling.top_k is not None:
        body["top_k"] = sampling.top_k
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    body.update(sampling.extra_body)
    return body


def token_count(value: Any) -> int | None:
    """A usage count as an int (0 when absent); None when the server sent something that is no count."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value)


def usage_counts(data: dict[str, Any]) -> tuple[int, int] | None:
    """(prompt_tokens, completion_tokens) of a completion body; None when `usage` is malformed."""
    usage = data.get("usage") or {}
    if not isinstance(usage, dict):
        return None
    prompt, completion = token_count(usage.get("prompt_tokens")), token_count(usage.get("completion_tokens"))
    if prompt is None or completion is None:
        return None
    return prompt, completion
