"""Where converted base models live, and how recipes refer to them (`cache:<name>`)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "MUSER_CACHE"
CACHE_PREFIX = "cache:"
SMOLLM2_NAME = "smollm2-135m-instruct"


def cache_root() -> Path:
    """The muser cache directory: `$MUSER_CACHE`, else `~/.cache/muser`."""
    override = os.environ.get(CACHE_ENV)
    return Path(override).expanduser() if override else Path.home() / ".cache" / "muser"


def cached_model_dir(name: str = SMOLLM2_NAME) -> Path:
    """The directory a converted model called `name` is stored in."""
    return cache_root() / name


def resolve_model_ref(ref: str) -> str:
    """Turn a recipe's model reference into what transformers loads.

    `cache:<name>` maps into the muser cache (so `MUSER_CACHE` is honoured), `~` and `$VARS` are
    expanded, and anything else (a local directory or a Hub id such as `Qwen/Qwen3-32B`) is kept.
    """
    if ref.startswith(CACHE_PREFIX):
        return str(cached_model_dir(ref[len(CACHE_PREFIX) :]))
    return os.path.expandvars(os.path.expanduser(ref))


def looks_local(ref: str) -> bool:
    """True when a model reference can only mean a local directory (not a Hub id)."""
    return ref.startswith((CACHE_PREFIX, ".", "/", "~", "$")) or ref.count("/") != 1
