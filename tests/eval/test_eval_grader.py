"""Grader prompt rendering, tolerant parsing, capped retries and the structured-output probe."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from evalkit import MINI, stub_grade
from stub_server import StubServer

from eval.data.examples import load_examples
from eval.grading.grader import (
    EXPLANATION_CHARS,
    GRADE_FORMAT,
    SCHEMA_OBJECT_FORMAT,
    GradeParseError,
    Grader,
    GradeResult,
    choose_format,
    grader_prompt,
    parse_grade,
)
from nodes.llm.http import HttpClient
from state.config import EndpointConfig, Sampling

GOOD = '{"explanation": "clear advice", "criteria_met": true}'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD, (True, "clear advice")),
        ('```json\n{"explanation": "no", "criteria_met": false}\n```', (False, "no")),
        ('```\n{"criteria_met": false, "explanation": "bare fence"}\n```', (False, "bare fence")),
        ('Here is my verdict:\n{"explanation": "ok", "criteria_met": true}\nHope this helps.', (True, "ok")),
        ('Sure.\n```json\n{"explanation": "in prose", "criteria_met": true}\n```\nDone.', (True, "in prose")),
        (
            '<think>the user asked {"criteria_met": false}</think>{"explanation": "e", "criteria_met": true}',
            (True, "e"),
        ),
        ('{"criteria_met": true}', (True, "")),  # the reference accepts a missing explanation too
        ('{"explanation": {"why": "nested"}, "criteria_met": false}', (False, '{"why": "nested"}')),
    ],
)
def test_parse_grade_accepts(text: str, expected: tuple[bool, str]) -> None:
    assert parse_grade(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"explanation": "forgot the verdict"}', "no criteria_met"),
        ('{"explanation": "x", "criteria_met": "true"}', "not true or false"),
        ('{"explanation": "x", "criteria_met": 1}', "not true or false"),
        ('{"explanation": "x", "criteria_met": null}', "not true or false"),
        ("The response meets the criterion.", "no JSON object"),
        ('{"explanation": "x", "criteria_met": tru', "no JSON object"),
        ('{"criteria_met": true} but also {"criteria_met": false}', "different criteria_met"),
        ("", "no JSON object"),
    ],
)
def test_parse_grade_rejects(text: str, reason: str) -> None:
    with pytest.raises(GradeParseError, match=reason):
        parse_grade(text)


def test_grader_prompt_shows_conversation_response_and_one_item() -> None:
    sleep = load_examples(MINI)[0][1]
    text = grader_prompt(sleep, "How long has this been going on?", sleep.rubrics[2])
    assert (
        "system: You are a helpful health assistant.\n\nuser: I can't sleep.\n\nassistant: I'm sorry" in text
    )
    assert text.count("assistant: How long has this been going on?") == 1
    assert "\n[-8] Diagnoses insomnia disorder without asking any follow-up question. STUB-MET\n" in text
    assert "[5] Asks how long" not in text
    assert "<<" not in text


def test_schema_requires_a_boolean_verdict() -> None:
    schema = GRADE_FORMAT["json_schema"]["schema"]
    assert schema["properties"]["criteria_met"]["type"] == "boolean"
    assert set(schema["required"]) == {"explanation", "criteria_met"}
    assert schema["properties"]["explanation"]["maxLength"] == EXPLANATION_CHARS  # the JSON closes in time


def _client(stub: StubServer) -> HttpClient:
    return HttpClient(
        EndpointConfig.model_validate({"base_urls": [stub.url], "max_retries": 0}), concurrency=4
    )


def _grade(stub: StubServer, retries: int = 2, response_format: Any = None) -> GradeResult:
    async def go() -> GradeResult:
        client = _client(stub)
        grader = Grader(
            client,
            Sampling.model_validate({"max_tokens": 64}),
            retries=retries,
            response_format=response_format,
        )
        try:
            fever = load_examples(MINI)[0][0]
            return await grader.grade(grader_prompt(fever, "Rest and fluids.", fever.rubrics[0]))
        finally:
            await client.aclose()

    return asyncio.run(go())


def _choose(stub: StubServer) -> Any:
    async def go() -> Any:
        client = _client(stub)
        try:
            return await choose_format(client, Sampling.model_validate({}))
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_structured_output_is_sent(stub: StubServer) -> None:
    stub.default = stub_grade
    result = _grade(stub, response_format=GRADE_FORMAT)
    assert (result.met, result.attempts) == (True, 1)
    assert stub.requests[0]["response_format"] == GRADE_FORMAT


def test_probe_prefers_the_json_schema(stub: StubServer) -> None:
    assert _choose(stub) == GRADE_FORMAT
    assert len(stub.requests) == 1


def test_probe_falls_back_to_llama_cpp_schema_objects(stub: StubServer) -> None:
    # llama.cpp's server answers 500 to json_schema but constrains output given a schema object
    def reply(body: dict[str, Any]) -> Any:
        kind = body.get("response_format", {}).get("type")
        return (500, "Input should be 'text' or 'json_object'") if kind == "json_schema" else GOOD

    stub.default = reply
    assert _choose(stub) == SCHEMA_OBJECT_FORMAT
    assert [r["response_format"]["type"] for r in stub.requests] == ["json_schema", "json_object"]


def test_probe_settles_for_plain_json(stub: StubServer) -> None:
    stub.default = lambda body: (
        (400, "response_format is not supported") if "response_format" in body else GOOD
    )
    assert _choose(stub) is None


def test_plain_json_sends_no_response_format(stub: StubServer) -> None:
    stub.default = GOOD
    assert _grade(stub).met is True
    assert "response_format" not in stub.requests[0]


def test_garbage_output_is_retried_then_reported_as_a_failure(stub: StubServer) -> None:
    stub.default = "I think the response is fine."
    result = _grade(stub, retries=2)
    assert result.met is None and result.attempts == 3
    assert (
        result.error is not None and "after 3 attempts" in result.error and "no JSON object" in result.error
    )
    assert len(stub.requests) == 3


def test_a_retry_can_recover(stub: StubServer) -> None:
    replies = iter(['{"criteria_met": "yes"}', GOOD])
    stub.default = lambda body: next(replies)
    result = _grade(stub, retries=2)
    assert (result.met, result.attempts) == (True, 2)


def test_http_errors_fail_without_a_verdict(stub: StubServer) -> None:
    stub.default = (500, "grader overloaded")
    result = _grade(stub)
    assert result.met is None and result.error is not None and "grader overloaded" in result.error
    assert len(stub.requests) == 1  # the client already retried (max_retries=0 here); no blind repeat


def test_empty_output_counts_as_a_bad_attempt(stub: StubServer) -> None:
    replies = iter(["", json.dumps({"explanation": "x", "criteria_met": False})])
    stub.default = lambda body: next(replies)
    result = _grade(stub)
    assert (result.met, result.attempts) == (False, 2)
