"""Helpers for the HealthBench tests: self-written examples (never HealthBench items) and stub graders.

The stub grader marks a rubric item met exactly when its criterion contains STUB-MET, so every score in
these tests can be computed by hand from tests/eval/fixtures/mini.jsonl.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
MINI = FIXTURES / "mini.jsonl"
ITEM_LINE = re.compile(r"^\[(-?[\d.]+)\] (.*)$", re.MULTILINE)
MET_MARK = "STUB-MET"


def rubric_item_of(body: dict[str, Any]) -> str:
    """The "[points] criterion" line of a grader request."""
    match = ITEM_LINE.search(body["messages"][-1]["content"])
    assert match, "grader request without a rubric item line"
    return match.group(0)


def is_grading(body: dict[str, Any]) -> bool:
    """True for a grading request, False for the one-off structured-output probe."""
    return bool(ITEM_LINE.search(body["messages"][-1]["content"]))


def grading_calls(requests: list[dict[str, Any]]) -> int:
    return sum(1 for body in requests if is_grading(body))


def stub_grade(body: dict[str, Any]) -> str:
    """A well-behaved grader: fenced JSON, met when the criterion carries the marker."""
    met = is_grading(body) and MET_MARK in rubric_item_of(body)
    return "```json\n" + json.dumps({"explanation": "stub verdict", "criteria_met": met}) + "\n```"


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def mini_rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in MINI.read_text(encoding="utf-8").splitlines() if line.strip()]
