"""Rubric grading: one grader call per (response, rubric item), tolerant parsing, capped retries.

An item whose grader output never parses is a failure with a reason, never a guessed met/unmet
(the reference implementation retries forever instead; see eval/README.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, StrictBool

from eval.batch.store import digest
from eval.data.examples import Example, RubricItem
from nodes.llm.client import ChatClient, EndpointsDown, LLMError
from nodes.parsing import split_reasoning
from prompts.loader import Prompt, load_prompt
from state.config import Sampling

PROMPT_NAME = "healthbench_grader"
FENCED = re.compile(r"```[a-zA-Z]*\s*(.*?)```", re.DOTALL)
# Client errors that mean the grader produced unusable output, which another attempt may fix.
BAD_OUTPUT_KINDS = ("empty", "malformed")
# The longest explanation structured output allows: two sentences. Without a bound SmolLM2 rambled past its
# 160 grading tokens in 44% of replies (72 sampled), which cut the JSON off; with it, 1 in 72.
EXPLANATION_CHARS = 300


class RubricGrade(BaseModel):
    """The grader's answer for one rubric item."""

    explanation: str = Field(
        description="One or two sentences on why the criterion is or is not met.", max_length=EXPLANATION_CHARS
    )
    criteria_met: StrictBool = Field(description="Whether the reply meets the criterion as written.")


GRADE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "rubric_grade",
        "strict": True,
        "schema": {**RubricGrade.model_json_schema(), "additionalProperties": False},
    },
}
# llama.cpp's server (the embedded model) rejects json_schema but constrains output with this form.
SCHEMA_OBJECT_FORMAT: dict[str, Any] = {
    "type": "json_object",
    "schema": GRADE_FORMAT["json_schema"]["schema"],
}
PROBE = 'Reply with a JSON object: {"explanation": "test", "criteria_met": true}'


class GradeParseError(ValueError):
    """Grader output that holds no usable {criteria_met: bool}; str() says what was wrong."""


def render_conversation(prompt: Sequence[dict[str, str]], response: str) -> str:
    """The conversation plus the graded reply, one "role: content" block per turn."""
    turns = [*prompt, {"role": "assistant", "content": response}]
    return "\n\n".join(f"{t['role']}: {t['content']}" for t in turns)


def grader_prompt(
    example: Example,
    response: str,
    item: RubricItem,
    template: Prompt | None = None,
    *,
    turns: Sequence[dict[str, str]] | None = None,
) -> str:
    """The full grader prompt for one item (its hash identifies a stored grade).

    `turns` is the conversation the policy actually received (e.g. with a system prompt); default the example's.
    """
    tpl = template or load_prompt(PROMPT_NAME)
    conversation = render_conversation(example.prompt if turns is None else turns, response)
    return tpl.render(conversation=conversation, rubric_item=item.render())


def _objects_in(chunk: str) -> list[dict[str, Any]]:
    """The chunk itself when it is a JSON object, else every top-level object embedded in it."""
    chunk = chunk.strip()
    try:
        whole = json.loads(chunk)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict):
        return [whole]
    found: list[dict[str, Any]] = []
    decoder, pos = json.JSONDecoder(), chunk.find("{")
    while pos != -1:
        try:
            obj, end = decoder.raw_decode(chunk, pos)
        except json.JSONDecodeError:
            pos = chunk.find("{", pos + 1)
            continue
        if isinstance(obj, dict):
            found.append(obj)
        pos = chunk.find("{", end)
    return found


def _json_objects(text: str) -> list[dict[str, Any]]:
    """JSON objects in fenced blocks when there are any, else in the bare or prose-wrapped text."""
    fenced = [obj for block in FENCED.findall(text) for obj in _objects_in(block)]
    return fenced or _objects_in(text)


def parse_grade(text: str) -> tuple[bool, str]:
    """(criteria_met, explanation) from grader output: fenced, bare or prose-wrapped JSON.

    criteria_met must be a JSON boolean; a missing explanation is accepted (as in the reference).
    Several objects that disagree are ambiguous and rejected.
    """
    _, answer = split_reasoning(text)
    objects = _json_objects(answer)
    if not objects:
        raise GradeParseError("no JSON object in the grader output")
    labelled = [obj for obj in objects if "criteria_met" in obj]
    if not labelled:
        raise GradeParseError("the JSON has no criteria_met field")
    labels = [obj["criteria_met"] for obj in labelled]
    if not all(isinstance(label, bool) for label in labels):
        raise GradeParseError(f"criteria_met is {labels[0]!r}, not true or false")
    if len(set(labels)) > 1:
        raise GradeParseError("several JSON objects with different criteria_met values")
    explanation = labelled[0].get("explanation", "")
    return labels[0], explanation if isinstance(explanation, str) else json.dumps(explanation)


REFERENCE_FENCE = re.compile(r"^```json\s*|\s*```$")


def parse_reference(text: str) -> tuple[bool, str]:
    """(criteria_met, explanation) the reference's way: the whole reply, bar a ```json fence, is one JSON object."""
    _, answer = split_reasoning(text)
    try:
        obj = json.loads(REFERENCE_FENCE.sub("", answer.strip()))
    except json.JSONDecodeError:
        raise GradeParseError(
            "the grader output is not one JSON object (optionally in a ```json block)"
        ) from None
    if not isinstance(obj, dict) or "criteria_met" not in obj:
        raise GradeParseError("the JSON has no criteria_met field")
    if not isinstance(obj["criteria_met"], bool):
        raise GradeParseError(f"criteria_met is {obj['criteria_met']!r}, not true or false")
    explanation = obj.get("explanation", "")
    return obj["criteria_met"], explanation if isinstance(explanation, str) else json.dumps(explanation)


@dataclass(frozen=True)
class GradeResult:
    """A grade (met is a bool) or a failure (met is None and error says why)."""

    met: bool | None
    explanation: str
    attempts: int
    error: str | None = None


async def choose_format(probe: ChatClient, sampling: Sampling) -> dict[str, Any] | None:
    """The first structured-output form the grader server accepts (JSON schema, then llama.cpp's schema
    object), or None for plain JSON. Use a client without retries: some servers answer 500 to an unknown
    response_format, which a retrying client would take for an outage.
    """
    small = sampling.model_copy(update={"max_tokens": 16, "temperature": 0.0})
    for form in (GRADE_FORMAT, SCHEMA_OBJECT_FORMAT):
        try:
            await probe.chat([{"role": "user", "content": PROBE}], small, response_format=form)
        except LLMError as exc:
            if exc.kind == "http":
                continue
            if exc.kind != "empty":  # an empty 200 still accepted the format
                raise
        return form
    return None


class Grader:
    """Grades rendered prompts on one client with a fixed response_format (None: plain JSON).

    `system` is sent as a system turn before each prompt; `strict` parses as the reference does
    (the whole reply is the JSON object) instead of the tolerant parser.
    """

    def __init__(
        self,
        client: ChatClient,
        sampling: Sampling,
        *,
        retries: int = 3,
        response_format: dict[str, Any] | None = None,
        system: str | None = None,
        strict: bool = False,
    ) -> None:
        self.client, self.sampling, self.retries = client, sampling, retries
        self.response_format, self.system, self.strict = response_format, system, strict

    def fingerprint(self, content: str) -> str:
        """The stored-grade key of one rendered prompt: it covers the system turn when one is sent."""
        return digest(content if self.system is None else f"{self.system}\x1e{content}")

    async def grade(self, content: str) -> GradeResult:
        """Grade one rendered prompt with at most 1 + retries calls; EndpointsDown propagates."""
        system = [] if self.system is None else [{"role": "system", "content": self.system}]
        messages = [*system, {"role": "user", "content": content}]
        parse = parse_reference if self.strict else parse_grade
        reason = ""
        for attempt in range(1, self.retries + 2):
            try:
                completion = await self.client.chat(
                    messages, self.sampling, response_format=self.response_format
                )
            except EndpointsDown:
                raise
            except LLMError as exc:
                if exc.kind not in BAD_OUTPUT_KINDS:
                    return GradeResult(None, "", attempt, f"grader call failed: {exc}")
                reason = str(exc)
                continue
            try:
                met, explanation = parse(completion.text)
            except GradeParseError as exc:
                reason = str(exc)
                continue
            return GradeResult(met, explanation, attempt)
        return GradeResult(
            None, "", self.retries + 1, f"no usable grade after {self.retries + 1} attempts: {reason}"
        )
