"""HttpClient against real scripted OpenAI-compatible servers on 127.0.0.1: discovery, retries, routing."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from aiohttp import web
from stub_server import Faults, StubServer

from nodes.llm.client import Completion, EndpointsDown, LLMError
from nodes.llm.http import HttpClient
from state.config import EndpointConfig, Sampling

T = TypeVar("T")
HI = [{"role": "user", "content": "hi"}]


class ShortHangStub(StubServer):
    """The stub's hang fault sleeps an hour, which keeps stop() from returning; hang just past the client."""

    hang_s = 1.0

    async def _fault(self, kind: int, request: web.Request) -> web.StreamResponse:
        if kind == 2:
            await asyncio.sleep(self.hang_s)
            return web.json_response({"error": {"message": "late"}}, status=500)
        return await super()._fault(kind, request)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def dead_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def make(*urls: str, **settings: Any) -> HttpClient:
    settings = {"backoff_base_s": 0.01, "backoff_max_s": 0.05, **settings}
    return HttpClient(EndpointConfig(base_urls=list(urls), **settings))


async def chat(client: HttpClient, sampling: Sampling | None = None, **kw: Any) -> Completion:
    try:
        return await client.chat(HI, sampling or Sampling(), **kw)
    finally:
        await client.aclose()


async def failing(coro: Coroutine[Any, Any, Any], client: HttpClient) -> LLMError:
    try:
        await coro
    except LLMError as exc:
        return exc
    finally:
        await client.aclose()
    raise AssertionError("expected an LLMError")


def scripted(*replies: Any) -> Callable[[dict[str, Any]], Any]:
    """A reply that walks through `replies`, then repeats the last one."""
    it: Iterator[Any] = iter(replies)
    last: list[Any] = [None]

    def reply(body: dict[str, Any]) -> Any:
        last[0] = next(it, last[0])
        return last[0]

    return reply


@pytest.fixture
def servers() -> Iterator[list[StubServer]]:
    started: list[StubServer] = []
    yield started
    for server in started:
        server.stop()


# -- model discovery ---------------------------------------------------------------------------------


def test_model_is_discovered_from_models(stub: StubServer) -> None:
    stub.models = ["served/first", "served/second"]
    client = make(stub.url)
    completion = run(chat(client))
    assert client._model == "served/first"
    assert stub.requests[0]["model"] == "served/first"
    assert completion.text.startswith("A fever of 39.5")
    assert completion.endpoint == stub.url


def test_configured_model_is_checked(stub: StubServer) -> None:
    stub.models = ["a", "b"]
    client = make(stub.url, model="b")

    async def go() -> str:
        try:
            return await client.model_name()
        finally:
            await client.aclose()

    assert run(go()) == "b"


def test_wrong_model_names_the_served_ones(stub: StubServer) -> None:
    stub.models = ["Qwen/Qwen3-32B", "other"]
    client = make(stub.url, model="Qwen/Qwen3-8B")
    err = run(failing(client.model_name(), client))
    assert err.kind == "model"
    message = str(err)
    assert "'Qwen/Qwen3-8B'" in message and "Qwen/Qwen3-32B, other" in message and "--model" in message
    assert "\n" not in message


def test_wrong_model_at_call_time_is_a_model_error_without_retry(stub: StubServer) -> None:
    client = make(stub.url, model="nope")  # chat() trusts a configured model; the server says 404
    err = run(failing(client.chat(HI, Sampling()), client))
    assert (err.kind, err.status, err.attempts) == ("model", 404, 1)
    assert len(stub.requests) == 1


def test_unreachable_url_is_one_line() -> None:
    url = dead_url()
    client = make(url)
    err = run(failing(client.model_name(), client))
    assert err.kind == "connection"
    message = str(err)
    assert "cannot reach" in message and url in message and "--base-url" in message
    assert "\n" not in message


# -- retries -----------------------------------------------------------------------------------------


def test_500_then_success_is_retried(stub: StubServer) -> None:
    stub.rules = [("hi", scripted((500, "temporarily broken"), "better now"))]
    completion = run(chat(make(stub.url, model="stub-model")))
    assert completion.text == "better now"
    assert completion.attempts == 2
    assert len(stub.requests) == 2


def test_400_is_not_retried(stub: StubServer) -> None:
    stub.rules = [("hi", (400, "max_tokens is too large for this model"))]
    client = make(stub.url, model="stub-model", max_retries=4)
    err = run(failing(client.chat(HI, Sampling()), client))
    assert (err.kind, err.status, err.attempts, err.retryable) == ("http", 400, 1, False)
    assert "max_tokens is too large" in str(err)
    assert "\n" not in str(err)
    assert len(stub.requests) == 1


def test_429_is_retried_and_does_not_eject(stub: StubServer) -> None:
    stub.rules = [("hi", scripted((429, "slow down"), (429, "slow down"), "ok"))]
    # eject_after=1 with a long probe: if a 429 counted as an endpoint failure, the call would stall 30 s.
    client = make(stub.url, model="stub-model", eject_after=1, probe_after_s=30)
    start = time.monotonic()
    completion = run(chat(client))
    assert completion.text == "ok" and completion.attempts == 3
    assert len(stub.requests) == 3
    assert time.monotonic() - start < 5


def test_429_forever_gives_up_after_max_retries(stub: StubServer) -> None:
    stub.faults = Faults(status_429=1.0)
    client = make(stub.url, model="stub-model", max_retries=2)
    err = run(failing(client.chat(HI, Sampling()), client))
    assert (err.kind, err.status, err.attempts) == ("http", 429, 3)
    assert len(stub.requests) == 3


def test_malformed_body_is_retried_then_an_error(stub: StubServer) -> None:
    stub.faults = Faults(malformed=1.0)
    client = make(stub.url, model="stub-model", max_retries=2)
    err = run(failing(client.chat(HI, Sampling()), client))
    assert (err.kind, err.attempts) == ("malformed", 3)
    assert "\n" not in str(err)
    assert len(stub.requests) == 3


def test_dropped_connection_is_retried_then_an_error(stub: StubServer) -> None:
    stub.faults = Faults(drop=1.0)
    client = make(stub.url, model="stub-model", max_retries=1)
    err = run(failing(client.chat(HI, Sampling()), client))
    assert (err.kind, err.attempts) == ("connection", 2)
    assert len(stub.requests) == 2


def test_timeout_after_max_retries_plus_one_attempts(servers: list[StubServer]) -> None:
    hang = ShortHangStub(faults=Faults(hang=1.0)).start()
    servers.append(hang)
    client = make(hang.url, model="stub-model", timeout_s=0.2, max_retries=2)
    start = time.monotonic()
    err = run(failing(client.chat(HI, Sampling()), client))
    assert (err.kind, err.attempts) == ("timeout", 3)
    assert "0.2s" in str(err) and "\n" not in str(err)
    assert len(hang.requests) == 3
    assert time.monotonic() - start < 3


def test_empty_completion_is_an_error_not_an_answer(stub: StubServer) -> None:
    stub.rules = [("hi", "")]
    client = make(stub.url, model="stub-model")
    err = run(failing(client.chat(HI, Sampling()), client))
    assert err.kind == "empty"


# -- routing over several endpoints ------------------------------------------------------------------


def test_least_loaded_spreads_concurrent_calls(servers: list[StubServer]) -> None:
    a, b = StubServer(latency_ms=150).start(), StubServer(latency_ms=150).start()
    servers += [a, b]
    client = make(a.url, b.url, model="stub-model")

    async def go() -> list[Completion]:
        try:
            return await asyncio.gather(*(client.chat(HI, Sampling()) for _ in range(10)))
        finally:
            await client.aclose()

    completions = run(go())
    assert len(completions) == 10
    assert len(a.requests) + len(b.requests) == 10
    assert abs(len(a.requests) - len(b.requests)) <= 2
    assert {c.endpoint for c in completions} == {a.url, b.url}


def test_calls_one_at_a_time_take_turns_over_the_endpoints(servers: list[StubServer]) -> None:
    fleet = [StubServer().start() for _ in range(3)]
    servers += fleet
    client = make(*(s.url for s in fleet), model="stub-model")

    async def go() -> list[Completion]:
        try:
            return [await client.chat(HI, Sampling()) for _ in range(9)]
        finally:
            await client.aclose()

    completions = run(go())
    assert [len(s.requests) for s in fleet] == [3, 3, 3]
    turns = [c.endpoint for c in completions]
    assert all(turns[i] != turns[i + 1] for i in range(8))  # never the same one twice in a row


def test_dead_endpoint_is_ejected_and_calls_go_to_the_live_one(stub: StubServer) -> None:
    dead = dead_url()
    client = make(dead, stub.url, model="stub-model", eject_after=1, probe_after_s=30, max_retries=3)

    async def go() -> list[Completion]:
        try:
            first = [await client.chat(HI, Sampling()) for _ in range(4)]
            return first + list(await asyncio.gather(*(client.chat(HI, Sampling()) for _ in range(6))))
        finally:
            await client.aclose()

    start = time.monotonic()
    completions = run(go())
    assert [c.endpoint for c in completions] == [stub.url] * 10
    assert len(stub.requests) == 10
    dead_ep = next(ep for ep in client.endpoints if ep.url == dead)
    assert dead_ep.ejected_until > time.monotonic()  # tried once, then out of rotation
    assert dead_ep.failures == 1  # the dead endpoint was tried exactly once
    assert [c.attempts for c in completions[4:]] == [1] * 6
    assert time.monotonic() - start < 5


def test_ejected_endpoint_is_probed_again(stub: StubServer) -> None:
    stub.rules = [("hi", scripted((500, "down"), (500, "down"), "back"))]
    client = make(stub.url, model="stub-model", eject_after=2, probe_after_s=0.3, max_retries=3)
    start = time.monotonic()
    completion = run(chat(client))
    elapsed = time.monotonic() - start
    assert completion.text == "back" and completion.attempts == 3
    assert 0.25 <= elapsed < 5  # waited for the probe, not longer
    assert client.endpoints[0].failures == 0 and client.endpoints[0].down_since is None


def test_all_endpoints_dead_raises_endpoints_down_in_time() -> None:
    urls = [dead_url(), dead_url()]
    client = make(*urls, model="m", eject_after=1, probe_after_s=30, all_down_after_s=0.3, max_retries=10)
    start = time.monotonic()
    err = run(failing(client.chat(HI, Sampling()), client))
    elapsed = time.monotonic() - start
    assert isinstance(err, EndpointsDown)
    assert elapsed < 3, f"EndpointsDown took {elapsed:.1f}s with all_down_after_s=0.3"
    message = str(err)
    assert urls[0] in message and urls[1] in message and "\n" not in message


# -- request shape -----------------------------------------------------------------------------------


def test_sampling_top_k_and_extra_body_in_the_request(stub: StubServer) -> None:
    sampling = Sampling(
        top_k=40, seed=7, extra_body={"repetition_penalty": 1.05, "chat_template_kwargs": {"x": 1}}
    )
    run(chat(make(stub.url, model="stub-model"), sampling))
    body = stub.requests[0]
    assert body["model"] == "stub-model"
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.6, 0.95, 40960)
    assert body["top_k"] == 40 and body["seed"] == 7
    assert body["repetition_penalty"] == 1.05 and body["chat_template_kwargs"] == {"x": 1}
    assert body["messages"] == HI
    assert "continue_final_message" not in body


def test_top_k_none_is_omitted(stub: StubServer) -> None:
    run(chat(make(stub.url, model="stub-model"), Sampling(top_k=None)))
    assert "top_k" not in stub.requests[0]


def test_continue_final_request_flags(stub: StubServer) -> None:
    run(chat(make(stub.url, model="stub-model"), continue_final=True))
    body = stub.requests[0]
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False


def test_reasoning_content_and_usage_come_back(stub: StubServer) -> None:
    stub.rules = [("hi", {"content": "answer", "reasoning_content": "thoughts"})]
    completion = run(chat(make(stub.url, model="stub-model")))
    assert (completion.text, completion.reasoning, completion.finish_reason) == ("answer", "thoughts", "stop")
    assert completion.completion_tokens >= 1 and completion.latency_ms > 0


def test_complete_posts_a_prompt(stub: StubServer) -> None:
    stub.rules = [("<|im_start|>", "continued text")]
    client = make(stub.url, model="stub-model")

    async def go() -> Completion:
        try:
            return await client.complete("<|im_start|>user\nhi<|im_end|>\n", Sampling(max_tokens=8))
        finally:
            await client.aclose()

    completion = run(go())
    assert completion.text == "continued text"
    assert stub.requests[0]["prompt"] == "<|im_start|>user\nhi<|im_end|>\n"
    assert stub.requests[0]["max_tokens"] == 8 and "messages" not in stub.requests[0]


class SlowModelsStub(StubServer):
    """A server whose /models answers late."""

    async def _models(self, request: web.Request) -> web.Response:
        await asyncio.sleep(1.0)
        return await super()._models(request)


def test_models_timeout_is_reported_as_a_timeout(servers: list[StubServer]) -> None:
    slow = SlowModelsStub().start()
    servers.append(slow)
    client = make(slow.url, timeout_s=0.2)
    err = run(failing(client.model_name(), client))
    assert err.kind == "timeout"
    assert "timed out" in str(err) and "\n" not in str(err)
