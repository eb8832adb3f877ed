"""A real OpenAI-compatible HTTP server on 127.0.0.1 that answers from a script.

Used by the tests (in a background thread) and by bench/orchestrator.py (as its own process:
`python tests/stub_server.py --port 0 --latency-ms 0`). Replies are chosen by the first rule whose
substring occurs in the request's last message (or prompt); faults can be injected by rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Reply = str | dict[str, Any] | Callable[[dict[str, Any]], Any]

DEFAULT_ANSWER = (
    "A fever of 39.5 C for two days in a three year old deserves attention. Keep the child drinking fluids, "
    "dress them lightly and use paracetamol or ibuprofen at the dose for their weight. See a doctor today if "
    "the fever persists beyond three days, if they are unusually sleepy, have trouble breathing, a rash that "
    "does not fade, a stiff neck or fewer wet nappies. Call emergency services for a seizure or if they cannot be woken."
)


@dataclass
class Faults:
    """Fractions of requests that fail, each way (checked in this order)."""

    status_500: float = 0.0
    status_429: float = 0.0
    hang: float = 0.0  # sleep past any sane client time-out
    drop: float = 0.0  # close the connection without an answer
    malformed: float = 0.0  # 200 with a body that is not a completion
    seed: int = 0


@dataclass
class StubServer:
    """Scripted OpenAI-compatible server. `rules` are (substring, reply) pairs; first match wins."""

    rules: list[tuple[str, Reply]] = field(default_factory=list)
    default: Reply = DEFAULT_ANSWER
    models: list[str] = field(default_factory=lambda: ["stub-model"])
    latency_ms: float = 0.0
    faults: Faults = field(default_factory=Faults)
    record: bool = True
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    host: str = "127.0.0.1"
    # Like vLLM: report the context in /v1/models, refuse prompt + max_tokens beyond it (400), count at /tokenize.
    max_model_len: int | None = None
    tokenize: bool = True
    tokenize_requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.faults.seed)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.count = 0
        self.refused = 0  # requests refused for not fitting max_model_len

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # -- replies -----------------------------------------------------------------------------------
    def _text_of(self, body: dict[str, Any]) -> str:
        if "messages" in body:
            msgs = body["messages"]
            return "\n".join(str(m.get("content", "")) for m in msgs) if msgs else ""
        return str(body.get("prompt", ""))

    def reply_for(self, body: dict[str, Any]) -> Any:
        text = self._text_of(body)
        chosen: Reply = self.default
        for needle, reply in self.rules:
            if needle in text:
                chosen = reply
                break
        return chosen(body) if callable(chosen) else chosen

    def prompt_tokens(self, body: dict[str, Any]) -> int:
        """The stub's token count of a request's prompt: a quarter of its characters plus 4 per turn."""
        return len(self._text_of(body)) // 4 + 4 * len(body.get("messages", [None]))

    def _over_context(self, body: dict[str, Any]) -> str | None:
        if self.max_model_len is None:
            return None
        prompt, asked = self.prompt_tokens(body), body.get("max_tokens") or body.get("max_completion_tokens") or 0
        if prompt + asked <= self.max_model_len:
            return None
        return (f"This model's maximum context length is {self.max_model_len} tokens. However, you requested "
                f"{asked} output tokens and your prompt contains {prompt} input tokens.")

    def _completion(self, body: dict[str, Any], reply: Any) -> dict[str, Any]:
        finish = "stop"
        if isinstance(reply, dict):  # {"content", "reasoning_content", "finish_reason"}: all optional
            content, reasoning = reply.get("content", ""), reply.get("reasoning_content")
            finish = reply.get("finish_reason", "stop")
        else:
            content, reasoning = str(reply), None
        usage = {"prompt_tokens": self.prompt_tokens(body), "completion_tokens": max(1, len(content) // 4)}
        if "messages" in body:
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if reasoning is not None:
                message["reasoning_content"] = reasoning
            choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish}
            obj = "chat.completion"
        else:
            choice = {"index": 0, "text": content, "finish_reason": finish}
            obj = "text_completion"
        return {"id": f"stub-{self.count}", "object": obj, "model": body.get("model"), "choices": [choice], "usage": usage}

    # -- handlers ----------------------------------------------------------------------------------
    async def _models(self, request: web.Request) -> web.Response:
        extra = {} if self.max_model_len is None else {"max_model_len": self.max_model_len}
        return web.json_response({"object": "list", "data": [{"id": m, "object": "model", **extra} for m in self.models]})

    async def _tokenize(self, request: web.Request) -> web.Response:
        if not self.tokenize:
            return web.json_response({"detail": "Not Found"}, status=404)
        body = await request.json()
        self.tokenize_requests.append(body)
        count = self.prompt_tokens(body)
        return web.json_response({"count": count, "max_model_len": self.max_model_len, "tokens": list(range(count))})

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        self.count += 1
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": {"message": "body is not JSON"}}, status=400)
        if self.record:
            self.requests.append(body)
        if body.get("model") not in self.models:
            return web.json_response(
                {"object": "error", "message": f"The model `{body.get('model')}` does not exist.", "code": 404}, status=404
            )
        too_long = self._over_context(body)
        if too_long:
            self.refused += 1
            return web.json_response({"object": "error", "message": too_long, "code": 400}, status=400)
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        f, roll = self.faults, self._rng.random()
        edges = [f.status_500, f.status_429, f.hang, f.drop, f.malformed]
        acc = 0.0
        for kind, rate in enumerate(edges):
            acc += rate
            if roll < acc:
                return await self._fault(kind, request)
        reply = self.reply_for(body)
        if isinstance(reply, tuple):  # (status, error message) scripted failure
            return web.json_response({"error": {"message": reply[1]}}, status=reply[0])
        return web.json_response(self._completion(body, reply))

    async def _fault(self, kind: int, request: web.Request) -> web.StreamResponse:
        if kind == 0:
            return web.json_response({"error": {"message": "injected server error"}}, status=500)
        if kind == 1:
            return web.json_response({"error": {"message": "injected rate limit"}}, status=429)
        if kind == 2:
            await asyncio.sleep(3600)
        if kind == 3 and request.transport is not None:
            request.transport.close()
            return web.Response(status=500)
        return web.Response(text='{"choices": [', content_type="application/json")

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._complete)
        app.router.add_post("/v1/completions", self._complete)
        app.router.add_post("/tokenize", self._tokenize)
        return app

    # -- lifecycle ---------------------------------------------------------------------------------
    async def serve(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self) -> StubServer:
        """Serve from a daemon thread; returns once the port is bound."""
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._runner is not None:
            # a handler stuck in an injected hang may outlive the time-out; the thread is a daemon
            with contextlib.suppress(TimeoutError):
                asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)


def main(argv: list[str] | None = None) -> None:
    """Run the stub as its own process (for benchmarks); prints its URL on the first line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    stub = StubServer(latency_ms=args.latency_ms, port=args.port, record=False, rules=[("We should", "We should ask about current medications.")])

    async def run() -> None:
        await stub.serve()
        print(stub.url, flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
