"""Rows of HealthBench's meta-evaluation file: a completion, one rubric item and physicians' verdicts on it.

The file is read from a path the user gives and never stored in this repository. Every malformed row
stops the load with one line naming the file, the line number and the fix.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from eval.data.examples import ROLES, DataError


@dataclass(frozen=True)
class MetaRow:
    """One graded completion: the conversation, the reply, the rubric item text and the physicians' labels."""

    prompt: tuple[dict[str, str], ...]
    completion: str
    rubric: str
    category: str
    labels: tuple[bool, ...]
    physicians: tuple[str, ...]


def parse_meta_row(row: Any, where: str) -> MetaRow:
    """Validate one decoded row; DataError names the line and the field."""

    def fail(what: str) -> NoReturn:
        raise DataError(f"{where}: {what}")

    if not isinstance(row, dict):
        fail(f"expected a JSON object, got {type(row).__name__}")
    prompt = row.get("prompt")
    if not isinstance(prompt, list) or not prompt:
        fail('prompt must be a non-empty list of {"role", "content"} turns')
    turns = []
    for i, turn in enumerate(prompt):
        if (
            not isinstance(turn, dict)
            or turn.get("role") not in ROLES
            or not isinstance(turn.get("content"), str)
        ):
            fail(f"prompt[{i}] must have a role ({', '.join(ROLES)}) and a string content")
        turns.append({"role": turn["role"], "content": turn["content"]})
    for key in ("completion", "rubric", "category"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            fail(f"{key} must be a non-empty string")
    labels, ids = row.get("binary_labels"), row.get("anonymized_physician_ids")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, bool) for x in labels):
        fail("binary_labels must be a non-empty list of true/false physician verdicts")
    if not isinstance(ids, list) or len(ids) != len(labels) or not all(isinstance(x, str) for x in ids):
        fail("anonymized_physician_ids must list one string id per binary_labels entry")
    return MetaRow(tuple(turns), row["completion"], row["rubric"], row["category"], tuple(labels), tuple(ids))


def load_meta(path: str | Path) -> list[MetaRow]:
    """Every row of a meta-evaluation JSONL file (blank lines skipped)."""
    file = Path(path)
    if not file.is_file():
        raise DataError(
            f"meta-evaluation file {file} not found; pass the path of HealthBench's meta-eval JSONL"
        )
    rows = []
    for number, raw in enumerate(file.read_bytes().splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"{file} line {number}"
        try:
            row = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise DataError(
                f"{where}: not a UTF-8 JSON object; each line must be one meta-eval row"
            ) from None
        rows.append(parse_meta_row(row, where))
    if not rows:
        raise DataError(f"meta-evaluation file {file} has no rows")
    return rows


def sample_meta(rows: list[MetaRow], n: int | None, seed: int = 0) -> list[MetaRow]:
    """A seeded sample of n rows, drawn as the reference does (random.Random(seed).sample)."""
    if n is None or n >= len(rows):
        return list(rows)
    return random.Random(seed).sample(rows, n)
