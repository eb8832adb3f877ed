"""Query generation: post-processing edge cases (pure) and one real HTTP round trip against the stub."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from stub_server import StubServer

from nodes.llm.client import Completion
from nodes.llm.factory import make_client
from nodes.query_gen import QueryGenError, clean_query, generate_query, render_query_prompt
from state.attributes import sample_attributes
from state.config import RunConfig, Sampling
from state.resolve import resolve_config

Q = "My dad has had a cough for three weeks, should he see someone?"


@pytest.mark.parametrize(
    ("raw", "query"),
    [
        (Q, Q),
        (f'"{Q}"', Q),
        (f"“{Q}”", Q),
        (f"'{Q}'", Q),
        (f"Query: {Q}", Q),
        (f'User query: "{Q}"', Q),
        (f"**User Query:** {Q}", Q),
        (f"Here is a query: {Q}", Q),
        (f'Sure! Here\'s a realistic query from a worried caregiver:\n\n"{Q}"', Q),
        (f"<think>The role is caregiver, so write about a parent.</think>\n{Q}", Q),
        (f"the user wants a rural tone</think>\n\n{Q}", Q),
        (f"{Q}\n<think>Let me double-check the constraints", Q),
        (f"Okay, I need to write a query that follows the constraints.\n{Q}", Q),
        (f'"{Q}"\n\nNote: the query leaves out his age, as required.', Q),
        (f'"{Q}" (This query is informal and incomplete.)', Q),
        (f"```\n{Q}\n```", Q),
        (f'"{Q}"\n\nYour request was clear; the message keeps every constraint.', Q),
        (
            'Here is the message:\n"Hi,\nmy eye is red. Is it pink eye?"\nIn other words, the user is worried.',
            "Hi,\nmy eye is red. Is it pink eye?",
        ),
        (f"The caregiver's message: {Q}", Q),
        (
            "Dear Dr Lee,\nI hope this message finds you well. Is my rash contagious?",
            "Dear Dr Lee,\nI hope this message finds you well. Is my rash contagious?",
        ),
        ('Should I give "Calpol" or "Nurofen" to my son?', 'Should I give "Calpol" or "Nurofen" to my son?'),
        ('"Calpol" or "Nurofen"?', '"Calpol" or "Nurofen"?'),
        (
            "Here is my situation: I can't sleep since the surgery.",
            "Here is my situation: I can't sleep since the surgery.",
        ),
        (
            "My son is 6.\n\nHe wheezes   at night.\nIs that asthma?",
            "My son is 6.\nHe wheezes at night.\nIs that asthma?",
        ),
        (
            "Her labs:\n- Na 128\n- K 5.9\nWhat should we do next?",
            "Her labs:\n- Na 128\n- K 5.9\nWhat should we do next?",
        ),
        (
            "Patient details:\n54-year-old man, Na 128.\nWhat next?",
            "Patient details:\n54-year-old man, Na 128.\nWhat next?",
        ),
    ],
)
def test_clean_query_keeps_only_the_query(raw: str, query: str) -> None:
    assert clean_query(raw) == query


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ('""', "empty"),
        ("<think>I should write as a doctor about gout, maybe", "empty"),
        ("<think>plan</think>", "empty"),
        ("Query:", "empty"),
        ("1. How is gout treated?\n2. Which foods trigger gout?\n3. Is gout inherited?", "list"),
        ("- Is gout curable?\n- Can gout come back?", "list"),
        ("Query 1: how is gout treated\nQuery 2: which foods trigger gout", "list"),
        ("word " * 500, "too_long"),
    ],
)
def test_clean_query_rejects_non_queries(raw: str, reason: str) -> None:
    with pytest.raises(QueryGenError) as info:
        clean_query(raw)
    assert info.value.reason == reason and isinstance(info.value, ValueError)


def test_max_chars_is_a_parameter() -> None:
    assert clean_query("x" * 30, max_chars=30) == "x" * 30
    with pytest.raises(QueryGenError, match="31 characters"):
        clean_query("x" * 31, max_chars=30)


def test_prompt_carries_every_constraint() -> None:
    attrs = sample_attributes(1, 2)
    prompt = render_query_prompt(attrs)
    for value in (
        attrs.role,
        attrs.country,
        attrs.setting,
        attrs.disease,
        attrs.intent,
        attrs.intent_description,
        attrs.vagueness,
        attrs.completeness,
        attrs.style,
    ):
        assert value in prompt
    assert "<<" not in prompt and ">>" not in prompt


def _config(url: str) -> RunConfig:
    return resolve_config(
        None,
        {
            "endpoint.base_urls": [url],
            "endpoint.max_retries": 0,
            "node_sampling": {"query": {"temperature": 1.1, "max_tokens": 77}},
        },
        environ={},
    )


def _run(stub: StubServer, attrs_i: int) -> tuple[str, Completion]:
    config = _config(stub.url)

    async def go() -> tuple[str, Completion]:
        client = make_client(config)
        try:
            return await generate_query(client, sample_attributes(5, attrs_i), config)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_generate_query_against_stub(stub: StubServer) -> None:
    attrs = sample_attributes(5, 0)
    stub.rules.append(
        (attrs.disease, {"content": f'Query: "{Q}"', "reasoning_content": "Role first, then region."})
    )
    query, completion = _run(stub, 0)
    assert query == Q and completion.reasoning == "Role first, then region."
    body: dict[str, Any] = stub.requests[-1]
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert body["messages"][0]["content"] == render_query_prompt(attrs)
    sampling = _config(stub.url).sampling_for("query")
    assert (body["temperature"], body["max_tokens"]) == (1.1, 77)  # the query node's override
    assert (body["top_p"], body["top_k"]) == (sampling.top_p, sampling.top_k)  # run-wide values


def test_generate_query_rejects_a_list(stub: StubServer) -> None:
    stub.default = "1. Is gout curable?\n2. Can gout come back?"
    with pytest.raises(QueryGenError) as info:
        _run(stub, 1)
    assert info.value.reason == "list" and "Is gout curable" in info.value.raw


class _CutOff:
    """A ChatClient whose reply ran into max_tokens (the stub always finishes with 'stop')."""

    async def chat(self, messages: list[dict[str, str]], sampling: Sampling, **_: Any) -> Completion:
        return Completion(text="My mother has had chest pain since", finish_reason="length")


def test_generate_query_rejects_a_truncated_reply() -> None:
    with pytest.raises(QueryGenError) as info:
        asyncio.run(generate_query(_CutOff(), sample_attributes(5, 2), RunConfig.model_validate({})))  # type: ignore[arg-type]
    assert info.value.reason == "truncated"
