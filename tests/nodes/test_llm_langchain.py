"""The `client: langchain` option (ChatOpenAI) against the real stub server."""

from __future__ import annotations

import asyncio

import pytest
from stub_server import StubServer

from graph.trace.cli import run_trace
from nodes.llm.client import LLMError
from state.resolve import resolve_config


def test_langchain_client_runs_the_graph_with_contgen(stub: StubServer) -> None:
    stub.rules += [("Context to check", "We should ask the user about their age."), ("pitched", "N/A"),
                   ("Perspectives to check", "N/A")]
    config = resolve_config(None, {"endpoint.base_urls": [stub.url], "client": "langchain", "refiner": "contgen"},
                            environ={})
    state = asyncio.run(run_trace(config, "My kid has a fever", None))
    assert state["refinement"]["method"] == "contgen"
    assert state["merged_reasoning"] == "Also, we should ask the user about their age."
    last = stub.requests[-1]
    assert last["continue_final_message"] is True and last["add_generation_prompt"] is False
    assert last["messages"][-1]["role"] == "assistant" and last["messages"][-1]["content"].startswith("<think>")
    assert last["top_k"] == 40 and last["temperature"] == 0.6


def test_langchain_client_wrong_model_is_a_clear_error(stub: StubServer) -> None:
    config = resolve_config(None, {"endpoint.base_urls": [stub.url], "client": "langchain", "endpoint.model": "nope"},
                            environ={})
    with pytest.raises(LLMError, match="is not served"):
        asyncio.run(run_trace(config, "x", None))
