"""Rule `truncated`: a call whose text went into the record stopped at its token limit.

Each call is a mapping as stored in the `usage` JSON (`finish_reason`, `completion_tokens`, `node`). Rows
written before finish_reason was stored fall back to what is there: a call that used all of its node's
`max_tokens` (when the run's config says what that was) is taken as cut off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

REASON = "truncated"


def cut_off(call: Mapping[str, Any], limits: Mapping[str, int] | None = None) -> bool:
    """True when this call ended at its token limit: finish_reason `length`, or (no finish_reason stored)
    completion tokens reaching the node's limit in `limits`."""
    if "finish_reason" in call:
        return call["finish_reason"] == "length"
    limit = (limits or {}).get(str(call.get("node", "")))
    tokens = call.get("completion_tokens")
    return limit is not None and isinstance(tokens, int) and tokens >= limit


def truncated(calls: Iterable[Mapping[str, Any]], limits: Mapping[str, int] | None = None) -> str | None:
    """`truncated` when any call was cut off, else None."""
    for call in calls:  # the common case inline: this runs for every record of a build
        finish = call.get("finish_reason")
        if finish == "length" or (finish is None and cut_off(call, limits)):
            return REASON
    return None
