"""What the gate needs from a row's stored `usage` JSON: the calls whose text went into the record, and,
for rows stored before finish_reason was recorded, each call's token limit from the run's config."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

# config node name (state/config.py NodeName) → the `node` names its calls carry in `usage`
CALL_NODES = {
    "generate": ("generate",),
    "evaluate": ("eval_decision", "eval_communication", "eval_safety"),
    "refine": ("refine_directref", "refine_contgen"),
    "teacher": ("teacher",),
}


def stage_calls(stage: str, usage: str | None) -> tuple[dict[str, Any], ...]:
    """The stored calls of one row: sr rows list theirs under `calls`; a kd row's usage is its one call."""
    if not usage:
        return ()
    try:
        data = json.loads(usage)
    except ValueError:
        return ()
    if not isinstance(data, dict):
        return ()
    if stage == "kd":
        return ({"node": "teacher", **data},)
    calls = data.get("calls")
    return tuple(c for c in calls if isinstance(c, dict)) if isinstance(calls, list) else ()


def token_limits(conn: sqlite3.Connection) -> dict[str, int]:
    """Each call node's max_tokens from the stored run configs (the largest across merged runs, so a row is
    only called cut off when it reached every run's limit)."""
    limits: dict[str, int] = {}
    for (text,) in conn.execute("SELECT config FROM runs"):
        try:
            config = json.loads(text or "{}")
        except ValueError:
            continue
        if not isinstance(config, dict):
            continue
        base = (config.get("sampling") or {}).get("max_tokens")
        overrides = config.get("node_sampling") or {}
        for node, call_nodes in CALL_NODES.items():
            limit = (overrides.get(node) or {}).get("max_tokens") or base
            if isinstance(limit, int):
                for name in call_nodes:
                    limits[name] = max(limits.get(name, 0), limit)
    return limits
