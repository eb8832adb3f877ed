"""Requests fit the served context: the budget rules, against a stub that refuses what vLLM refuses."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp import web
from stub_server import StubServer

from graph.build import build_graph
from nodes.llm.budget import MIN_NEW_TOKENS, fit, prompt_bound, tokenize_body, tokenize_url
from nodes.llm.client import LLMError, labelled
from nodes.llm.http import HttpClient
from state.config import EndpointConfig, RunConfig, Sampling

LONG_ANSWER = "word " * 6000  # 30,000 characters: 7,500 stub tokens


def client_for(stub: StubServer, **settings: Any) -> HttpClient:
    return HttpClient(EndpointConfig(base_urls=[stub.url], backoff_base_s=0.01, **settings))


async def ask(client: HttpClient, messages: list[dict[str, str]], sampling: Sampling, label: str = "generate") -> Any:
    try:
        return await labelled(label, client.chat(messages, sampling))
    finally:
        await client.aclose()


def test_fit_is_the_ceiling_or_what_the_context_leaves() -> None:
    assert fit(40960, 4096, 1000, counted=True).max_tokens == 3096
    assert fit(40960, 4096, 1000, counted=True).lowered
    assert fit(512, 4096, 1000, counted=True).max_tokens == 512
    assert not fit(512, 4096, 1000, counted=True).lowered
    with pytest.raises(LLMError) as err:
        fit(40960, 4096, 4096 - MIN_NEW_TOKENS + 1, counted=True)
    assert err.value.kind == "context"
    assert "4081 tokens" in err.value.message and "4096 tokens" in err.value.message


def test_prompt_bound_never_undercounts_bytes() -> None:
    text = "fièvre 39,5 °C — 発熱"
    assert prompt_bound(prompt=text) >= len(text.encode())
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]
    assert prompt_bound(messages) >= len(text.encode()) + len(b"be brief") + 2


def test_tokenize_request_mirrors_the_chat_request() -> None:
    assert tokenize_url("http://h:8000/v1") == "http://h:8000/tokenize"
    request = {"model": "m", "messages": [{"role": "user", "content": "x"}], "continue_final_message": True,
               "add_generation_prompt": False, "chat_template": "T", "max_tokens": 9}
    body = tokenize_body("m", request)
    assert body == {"model": "m", "messages": request["messages"], "continue_final_message": True,
                    "add_generation_prompt": False, "chat_template": "T"}
    assert tokenize_body("m", {"prompt": "abc", "max_tokens": 3}) == {"model": "m", "prompt": "abc"}


def test_the_paper_ceiling_is_lowered_to_fit_and_never_refused(caplog: pytest.LogCaptureFixture) -> None:
    stub = StubServer(max_model_len=4096).start()
    try:
        caplog.set_level(logging.WARNING, logger="nodes.llm")
        client = client_for(stub)

        async def many() -> None:
            try:
                for label in ("generate", "generate", "eval_safety"):
                    await labelled(label, client.chat([{"role": "user", "content": "fever " * 50}], Sampling()))
            finally:
                await client.aclose()

        asyncio.run(many())
        assert stub.refused == 0
        sent = [r["max_tokens"] for r in stub.requests]
        expected = 4096 - stub.prompt_tokens({"messages": [{"role": "user", "content": "fever " * 50}]})
        assert sent == [expected] * 3
        assert len(stub.tokenize_requests) == 3
        notes = [r.getMessage() for r in caplog.records if "does not always fit" in r.getMessage()]
        assert len(notes) == 2  # once per node
        assert notes[0].startswith("generate: max_tokens 40960") and "/tokenize" in notes[0]
    finally:
        stub.stop()


def test_a_ceiling_that_fits_costs_no_tokenize_call() -> None:
    stub = StubServer(max_model_len=4096).start()
    try:
        asyncio.run(ask(client_for(stub), [{"role": "user", "content": "hi"}], Sampling(max_tokens=256)))
        assert stub.requests[0]["max_tokens"] == 256
        assert stub.tokenize_requests == []
    finally:
        stub.stop()


def test_without_tokenize_the_length_bound_is_used() -> None:
    stub = StubServer(max_model_len=4096, tokenize=False).start()
    try:
        messages = [{"role": "user", "content": "fever " * 50}]
        asyncio.run(ask(client_for(stub), messages, Sampling()))
        assert stub.refused == 0
        assert stub.requests[0]["max_tokens"] == 4096 - prompt_bound(messages)
    finally:
        stub.stop()


def test_a_prompt_that_cannot_fit_is_a_context_failure_without_a_request() -> None:
    stub = StubServer(max_model_len=4096).start()
    try:
        with pytest.raises(LLMError) as err:
            asyncio.run(ask(client_for(stub), [{"role": "user", "content": LONG_ANSWER}], Sampling()))
        assert err.value.kind == "context"
        assert "7504 tokens" in err.value.message and "4096 tokens" in err.value.message
        assert stub.requests == [] and stub.refused == 0
    finally:
        stub.stop()


def test_a_server_refusal_for_length_is_a_context_failure() -> None:
    # The server reports no context, so the client cannot know; vLLM's 400 still becomes a typed failure.
    stub = StubServer(max_model_len=4096).start()
    try:
        stub.max_model_len, listed = None, stub.max_model_len

        async def run() -> LLMError:
            client = client_for(stub)
            await client.model_name()  # learns "no context reported"
            stub.max_model_len = listed
            try:
                await client.chat([{"role": "user", "content": "hi"}], Sampling())
            except LLMError as exc:
                return exc
            finally:
                await client.aclose()
            raise AssertionError("expected a refusal")

        exc = asyncio.run(run())
        assert exc.kind == "context" and exc.status == 400 and not exc.retryable
        assert "maximum context length is 4096" in exc.message
    finally:
        stub.stop()


def test_graph_fails_the_node_whose_prompt_overflows() -> None:
    stub = StubServer(max_model_len=8192, rules=[("We should", "N/A")], default=LONG_ANSWER).start()
    try:
        config = RunConfig(endpoint=EndpointConfig(base_urls=[stub.url]))

        async def run() -> Any:
            client = client_for(stub)
            try:
                return await build_graph(config, client).ainvoke({"query": "my child has a fever", "attributes": {}})
            finally:
                await client.aclose()

        with pytest.raises(LLMError) as err:
            asyncio.run(run())
        assert err.value.kind == "context"
        assert err.value.extra["stage"].startswith("eval_")
        assert stub.refused == 0
    finally:
        stub.stop()


def test_usage_that_is_not_a_count_is_a_malformed_response() -> None:
    async def bad_usage(request: web.Request) -> web.Response:
        return web.json_response({"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
                                  "usage": {"prompt_tokens": 3, "completion_tokens": "many"}})

    server = StubServer()
    server.app = lambda: _app_with(bad_usage)  # type: ignore[method-assign]
    server.start()
    try:
        with pytest.raises(LLMError) as err:
            asyncio.run(ask(client_for(server, max_retries=1), [{"role": "user", "content": "hi"}], Sampling()))
        assert err.value.kind == "malformed"
    finally:
        server.stop()


def _app_with(handler: Any) -> web.Application:
    app = web.Application()

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "stub-model"}]})

    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", handler)
    return app


def test_server_error_text_loses_control_characters() -> None:
    async def nasty(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "bad\x1b[31m red\x07 \x9b1m input"}}, status=400)

    server = StubServer()
    server.app = lambda: _app_with(nasty)  # type: ignore[method-assign]
    server.start()
    try:
        with pytest.raises(LLMError) as err:
            asyncio.run(ask(client_for(server), [{"role": "user", "content": "hi"}], Sampling()))
        assert "\x1b" not in err.value.message and "\x07" not in err.value.message and "\x9b" not in err.value.message
        assert "bad" in err.value.message and "input" in err.value.message
    finally:
        server.stop()


def test_discovery_gives_up_within_its_own_time_out() -> None:
    async def never(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/v1/models", never)
    server = StubServer()
    server.app = lambda: app  # type: ignore[method-assign]
    server.start()
    try:
        client = client_for(server, discovery_timeout_s=0.5)

        async def run() -> float:
            loop = asyncio.get_running_loop()
            began = loop.time()
            try:
                await client.model_name()
            except LLMError as exc:
                assert exc.kind == "timeout" and "GET /models" in exc.message
            finally:
                await client.aclose()
            return loop.time() - began

        assert asyncio.run(run()) < 5
    finally:
        server.stop()


def test_the_langchain_client_is_sized_the_same_way() -> None:
    from nodes.llm.langchain import LangChainClient

    stub = StubServer(max_model_len=4096).start()
    try:
        client = LangChainClient(EndpointConfig(base_urls=[stub.url], max_retries=0))

        async def run() -> None:
            try:
                await client.chat([{"role": "user", "content": "fever " * 50}], Sampling())
                await client.complete("fever " * 50, Sampling())
            finally:
                await client.aclose()

        asyncio.run(run())
        assert stub.refused == 0 and len(stub.requests) == 2
        assert all(r.get("max_tokens", r.get("max_completion_tokens")) < 4096 for r in stub.requests)
    finally:
        stub.stop()
