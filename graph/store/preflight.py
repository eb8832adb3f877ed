"""Checks graph.run makes before its first write, so a typo never leaves a run row or a half-used store."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from graph.store.db import Store, StoreError
from nodes.llm.factory import make_client
from prompts.loader import check_prompts_dir, load_prompt
from state.attributes import sample_attributes
from state.config import RunConfig
from state.priors import load_priors
from state.profiles import profile_hint


def check_files(config: RunConfig) -> None:
    """The priors file and prompt overrides load and fit the graph (ConfigError / PromptError otherwise)."""
    load_priors(config.priors_file)
    own = frozenset(n for n in (config.system_prompt, config.chat_template) if n)
    if config.prompts_dir is not None:
        check_prompts_dir(config.prompts_dir, own)
    if config.system_prompt:
        load_prompt(config.system_prompt, config.prompts_dir)


ROLES = ("endpoint", "generator", "teacher")


async def check_models(config: RunConfig) -> RunConfig:
    """Every role's endpoint answers and serves the named model (LLMError naming the flag otherwise); returns
    the config with each discovered model named, so the store records what was used and a resume that names
    it (--model X) matches."""
    found: dict[str, dict[str, Any]] = {}
    for role in ROLES:
        endpoint = getattr(config, role)
        if endpoint is None:
            continue
        client = make_client(config, endpoint, concurrency=1)
        try:
            found[role] = {"model": await client.model_name()}  # checks a named model, discovers an unnamed one
            for ep in getattr(client, "endpoints", [])[:1] if endpoint is config.endpoint else []:
                hint = profile_hint(ep.url, ep.context, config.sampling.max_tokens, config.profile)
                if hint:
                    print(hint, file=sys.stderr, flush=True)
        finally:
            await client.aclose()
    return config.model_copy(update={role: getattr(config, role).model_copy(update=m) for role, m in found.items()})


def unnamed_as(stored: dict[str, Any], config: RunConfig) -> dict[str, Any]:
    """A stored config whose models were left to discovery (stores made before they were recorded) takes the
    models named now, so only a real change of model is a different run."""
    out = dict(stored)
    for role in ROLES:
        if isinstance(out.get(role), dict) and out[role].get("model") is None and getattr(config, role) is not None:
            out[role] = {**out[role], "model": getattr(config, role).model}
    return out


def read_run(db: Any) -> tuple[dict[str, Any] | None, bool]:
    """(stored run row or None, whether it ran on the embedded server) of an existing store, read only."""
    if not Path(db).is_dir() and not (Path(db).exists() and Path(db).stat().st_size > 0):
        return None, False
    if Path(db).is_file():  # graph.run writes: a read-only store is refused before SQLite adds -wal/-shm beside it
        try:
            os.close(os.open(db, os.O_RDWR | os.O_CLOEXEC))
        except PermissionError as exc:
            raise StoreError(f"{db} is read-only ({exc.strerror}); make it writable or copy it elsewhere, "
                             "or pass another --db") from None
        except OSError as exc:
            if exc.errno == errno.EROFS:
                raise StoreError(f"{db} is on a read-only file system; copy it elsewhere or pass another --db") from None
    store = Store.open(db)
    try:
        was_embedded = store.conn.execute("SELECT value FROM meta WHERE key = 'embedded'").fetchone()
        return store.run_row(), bool(was_embedded and was_embedded[0] == "1")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{db} cannot be read ({exc}); it may be corrupt: restore it from a copy or pass another --db") from None
    finally:
        store.conn.close()


def check_integrity(store: Store) -> None:
    """A store about to be written must be whole: corrupt pages are refused before anything is added."""
    try:
        problems = [r[0] for r in store.conn.execute("PRAGMA quick_check(3)")]
    except sqlite3.DatabaseError as exc:
        problems = [str(exc)]
    if problems != ["ok"]:
        raise StoreError(f"{store.path} is corrupt ({'; '.join(problems)[:200]}); restore it from a copy or pass another --db")


def check_pregenerated(store: Store, config: RunConfig, seed: int, n: int, index: int, count: int) -> None:
    """Queries waiting in the store (graph.queries --db) must have been sampled with this seed and priors."""
    row = store.conn.execute(
        "SELECT id, attributes FROM queries q WHERE id < ? AND id % ? = ? "
        "AND NOT EXISTS (SELECT 1 FROM results r WHERE r.id = q.id) ORDER BY id LIMIT 1", (n, count, index)).fetchone()
    if row is None:
        return
    want = json.loads(json.dumps(sample_attributes(seed, row[0], load_priors(config.priors_file)).model_dump()))
    if json.loads(row[1] or "null") != want:
        raise StoreError(f"{store.path} holds queries made with another --seed or --priors (id {row[0]} does not match "
                         f"seed {seed}); pass the seed given to graph.queries, or a new --db")
