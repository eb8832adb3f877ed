"""What must match for a stored run to be resumed: its identity (seed, n, shard, the config less where calls
are sent), the first difference between two, and the refusal `graph.run` gives before it writes anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from graph.store.db import StoreError
from graph.store.preflight import ROLES, unnamed_as
from state.config import RunConfig


def identity(config: RunConfig, seed: int, n: int, shard: str) -> dict[str, Any]:
    """What must match for a resume: seed, n, shard and the config, minus where/how calls are sent."""
    data = config.model_dump(mode="json")
    for key in ("endpoint", "generator", "teacher"):
        if data.get(key) is not None:
            data[key] = {"model": data[key]["model"]}
    data.pop("client", None)
    return {"seed": seed, "n": n, "shard": shard, **data}


def first_difference(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> str | None:
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            found = first_difference(va, vb, f"{prefix}{key}.")
            if found:
                return found
        elif va != vb:
            return f"{prefix}{key}: stored {va!r}, now {vb!r}"
    return None


def same_run(db: Path, stored: dict[str, Any], config: RunConfig, seed: int, n: int, shard: str) -> None:
    """Refuse to resume a stored run with other settings (StoreError naming the first); a larger --n with
    everything else the same extends the run."""
    then = identity(RunConfig.model_validate(unnamed_as(stored["config"], config)), stored["seed"],
                    max(stored["n"], n), stored["shard"] or "")
    now = identity(config, seed, n, shard)
    for role in ROLES:  # a model still to be discovered matches until discovery names it (checked again then)
        if isinstance(now.get(role), dict) and now[role]["model"] is None and isinstance(then.get(role), dict):
            now[role]["model"] = then[role]["model"]
    diff = first_difference(then, now)
    if diff:
        raise StoreError(f"{db} holds a different run ({diff}); use the same settings, a new --db, or --force")
