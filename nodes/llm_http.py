"""Thin aiohttp client for OpenAI-compatible servers: least-loaded routing, capped retries, ejection.

Chosen on benchmark evidence: the openai SDK's default httpx pool collapses at hundreds of requests in
flight (bench/orchestrator.py and BENCHMARKS.md), while one aiohttp session keeps up.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from nodes.llm import Completion, EndpointsDown, LLMError, Message
from state.config import EndpointConfig, Sampling

try:  # orjson is ~5x faster at these payload sizes; plain json otherwise
    import orjson

    _loads: Any = orjson.loads

    def _dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj).encode()


@dataclass(slots=True)
class _Endpoint:
    url: str
    in_flight: int = 0
    failures: int = 0
    ejected_until: float = 0.0
    down_since: float | None = None
    requests: int = 0
    completion_tokens: int = 0


def _one_line(text: str, limit: int = 240) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def error_message(raw: bytes) -> str:
    """The server's error text from an OpenAI/vLLM-style error body (or the raw body), one line."""
    try:
        body = _loads(raw)
    except ValueError:
        return _one_line(raw.decode("utf-8", "replace")) or "(empty body)"
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return _one_line(str(err["message"]))
        if isinstance(err, str):
            return _one_line(err)
        if body.get("detail"):
            return _one_line(str(body["detail"]))
    return _one_line(raw.decode("utf-8", "replace"))


def request_body(model: str, sampling: Sampling) -> dict[str, Any]:
    """The sampling part of a chat/completions request; top_k rides along as a vLLM extra field."""
    body: dict[str, Any] = {
        "model": model,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_tokens,
    }
    if sampling.top_k is not None:
        body["top_k"] = sampling.top_k
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    body.update(sampling.extra_body)
    return body


class HttpClient:
    """ChatClient over one aiohttp session and one or more OpenAI-compatible base URLs."""

    def __init__(self, config: EndpointConfig, concurrency: int = 256) -> None:
        if not config.base_urls:
            raise LLMError("config", "no endpoint configured; pass --base-url (or omit it to use the embedded model)")
        self.config = config
        self.endpoints = [_Endpoint(url) for url in config.base_urls]
        self._model = config.model
        self._checked = False  # the configured model was found in /models
        self._concurrency = max(1, concurrency)
        self._session: aiohttp.ClientSession | None = None
        self._headers = {"Authorization": f"Bearer {config.api_key}", "Content-Type": "application/json"}
        self._timeout = aiohttp.ClientTimeout(total=config.timeout_s, sock_connect=config.connect_timeout_s)
        self._rr = 0

    # -- session and model -------------------------------------------------------------------------
    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # a graph has up to 3 calls in flight (the facet fan-out); a smaller pool would queue them
            connector = aiohttp.TCPConnector(limit=4 * self._concurrency, limit_per_host=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def served_models(self, url: str) -> list[str]:
        """Model ids at one endpoint's /models; LLMError with a one-line reason when it does not answer."""
        try:
            async with self._sess().get(f"{url}/models", headers=self._headers) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raise LLMError("http", f"GET /models: {error_message(raw)}", status=resp.status, endpoint=url)
        except asyncio.TimeoutError:  # before OSError: TimeoutError is an OSError since Python 3.11
            raise LLMError("timeout", "GET /models timed out; check --base-url", endpoint=url) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise LLMError(
                "connection",
                f"cannot reach the server ({_one_line(str(exc) or type(exc).__name__)}); is it running? check --base-url",
                endpoint=url,
            ) from None
        try:
            return [str(item["id"]) for item in _loads(raw)["data"]]
        except (ValueError, KeyError, TypeError):
            raise LLMError("malformed", "GET /models did not return an OpenAI model list; is this an OpenAI-compatible /v1 URL?", endpoint=url) from None

    async def model_name(self) -> str:
        """The configured model, checked against the first endpoint; else the first one it serves."""
        if self._model is not None and self._checked:
            return self._model
        url = self.endpoints[0].url
        served = await self.served_models(url)
        if self._model is None:
            if not served:
                raise LLMError("model", "the server lists no models at /models", endpoint=url)
            self._model = served[0]
        elif self._model not in served:
            raise LLMError("model", f"model {self._model!r} is not served (it serves: {', '.join(served)}); pass one of those to --model or omit --model", endpoint=url)
        self._checked = True
        return self._model

    # -- routing -----------------------------------------------------------------------------------
    async def _pick(self) -> _Endpoint:
        while True:
            now = time.monotonic()
            live = [ep for ep in self.endpoints if ep.ejected_until <= now]
            if live:
                self._rr += 1
                return min(live, key=lambda ep: (ep.in_flight, (id(ep) + self._rr) % 7))
            downs = [ep.down_since for ep in self.endpoints if ep.down_since is not None]
            if downs and now - max(downs) >= self.config.all_down_after_s:
                urls = ", ".join(ep.url for ep in self.endpoints)
                raise EndpointsDown("connection", f"every endpoint has been failing for {self.config.all_down_after_s:g}s ({urls}); check the servers, then run the same command again to resume")
            # Wake at the next probe or when the all-down deadline passes, whichever comes first.
            wake = min(ep.ejected_until for ep in self.endpoints)
            if downs:
                wake = min(wake, max(downs) + self.config.all_down_after_s)
            await asyncio.sleep(max(0.05, wake - now))

    def _fleet_down(self) -> bool:
        return all(ep.down_since is not None for ep in self.endpoints)

    def _failed(self, ep: _Endpoint) -> None:
        ep.failures += 1
        if ep.failures >= self.config.eject_after:
            now = time.monotonic()
            ep.ejected_until = now + self.config.probe_after_s
            if ep.down_since is None:
                ep.down_since = now

    # -- calls -------------------------------------------------------------------------------------
    async def _post(self, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], _Endpoint, float, int]:
        cfg = self.config
        payload = _dumps(body)
        last: LLMError | None = None
        attempt = 0
        while attempt <= cfg.max_retries or self._fleet_down():
            attempt += 1
            ep = await self._pick()
            ep.in_flight += 1
            t0 = time.perf_counter()
            status, raw, err = 0, b"", None
            try:
                async with self._sess().post(ep.url + path, data=payload, headers=self._headers) as resp:
                    status = resp.status
                    raw = await resp.read()
            except asyncio.TimeoutError:
                err = LLMError("timeout", f"no answer within {cfg.timeout_s:g}s", retryable=True)
            except (aiohttp.ClientError, OSError) as exc:
                err = LLMError("connection", _one_line(str(exc) or type(exc).__name__), retryable=True)
            finally:
                ep.in_flight -= 1
            latency = (time.perf_counter() - t0) * 1000
            if err is None and status == 200:
                try:
                    data = _loads(raw)
                    if not isinstance(data, dict) or not data.get("choices"):
                        raise ValueError("no choices")
                    ep.failures, ep.down_since, ep.ejected_until = 0, None, 0.0
                    ep.requests += 1
                    return data, ep, latency, attempt
                except ValueError:
                    err = LLMError("malformed", f"unparseable completion body: {_one_line(raw.decode('utf-8', 'replace'), 120)}", status=200, retryable=True)
            elif err is None:
                message = error_message(raw)
                retryable = status == 429 or status >= 500
                kind = "model" if status == 404 and "model" in message.lower() else "http"
                err = LLMError(kind, message, status=status, retryable=retryable)
            err.endpoint, err.attempts = ep.url, attempt
            if not err.retryable:
                raise err
            if err.status != 429:
                self._failed(ep)
            last = err
            if attempt > cfg.max_retries and self._fleet_down():
                continue  # an outage, not this request's fault: wait in _pick for recovery or EndpointsDown
            if attempt <= cfg.max_retries:
                await asyncio.sleep(random.uniform(0, min(cfg.backoff_max_s, cfg.backoff_base_s * 2 ** (attempt - 1))))
        assert last is not None
        raise last

    async def chat(
        self,
        messages: list[Message],
        sampling: Sampling,
        *,
        continue_final: bool = False,
        response_format: dict[str, Any] | None = None,
    ) -> Completion:
        body = request_body(self._model or await self.model_name(), sampling)
        body["messages"] = messages
        if continue_final:
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        if response_format is not None:
            body["response_format"] = response_format
        data, ep, latency, attempts = await self._post("/chat/completions", body)
        try:
            choice = data["choices"][0]
            msg = choice.get("message") or {}
            text = msg.get("content") or ""
            reasoning = msg.get("reasoning_content") or msg.get("reasoning")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise LLMError("malformed", "completion has no choices[0].message", endpoint=ep.url) from None
        return self._finish(data, choice, text, reasoning, ep, latency, attempts)

    async def complete(self, prompt: str, sampling: Sampling) -> Completion:
        body = request_body(self._model or await self.model_name(), sampling)
        body["prompt"] = prompt
        data, ep, latency, attempts = await self._post("/completions", body)
        try:
            choice = data["choices"][0]
            text = choice.get("text") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise LLMError("malformed", "completion has no choices[0].text", endpoint=ep.url) from None
        return self._finish(data, choice, text, None, ep, latency, attempts)

    def _finish(self, data: dict[str, Any], choice: dict[str, Any], text: Any, reasoning: Any,
                ep: _Endpoint, latency: float, attempts: int) -> Completion:
        if not isinstance(text, str) or (reasoning is not None and not isinstance(reasoning, str)):
            raise LLMError("malformed", "completion content is not text", endpoint=ep.url, attempts=attempts)
        if not text.strip() and not (reasoning or "").strip():
            raise LLMError("empty", f"the model returned no text (finish_reason={choice.get('finish_reason')})", endpoint=ep.url, attempts=attempts)
        usage = data.get("usage") or {}
        completion_tokens = int(usage.get("completion_tokens") or 0)
        ep.completion_tokens += completion_tokens
        return Completion(
            text=text,
            reasoning=reasoning,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=completion_tokens,
            latency_ms=latency,
            endpoint=ep.url,
            attempts=attempts,
        )
