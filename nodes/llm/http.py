"""Thin aiohttp client for OpenAI-compatible servers: least-loaded routing, capped retries, ejection, and
requests sized to each endpoint's context (nodes/budget.py).

Chosen on benchmark evidence: the openai SDK's default httpx pool collapses at hundreds of requests in
flight (bench/orchestrator.py and BENCHMARKS.md), while one aiohttp session keeps up.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from typing import Any

import aiohttp

from nodes.llm.budget import fit, lowered_note, prompt_bound
from nodes.llm.client import Completion, LLMError, Message, call_label
from nodes.llm.discovery import ServerInfo
from nodes.llm.routing import Endpoint, Pool
from nodes.llm.wire import dumps, error_message, is_context_error, loads, one_line, request_body, usage_counts
from state.config import EndpointConfig, Sampling

log = logging.getLogger("nodes.llm")


class HttpClient:
    """ChatClient over one aiohttp session and one or more OpenAI-compatible base URLs."""

    def __init__(self, config: EndpointConfig, concurrency: int = 256) -> None:
        if not config.base_urls:
            raise LLMError("config", "no endpoint configured; pass --base-url (or omit it to use the embedded model)")
        self.config = config
        self.pool = Pool(config)
        self.endpoints = self.pool.endpoints
        self._model = config.model
        self._checked = False  # the configured model was found in /models
        self._concurrency = max(1, concurrency)
        self.in_flight_by_stage: Counter[str] = Counter()  # requests out now, by call label (for progress)
        self._session: aiohttp.ClientSession | None = None
        self._headers = {"Authorization": f"Bearer {config.api_key}", "Content-Type": "application/json"}
        self._timeout = aiohttp.ClientTimeout(total=config.timeout_s, sock_connect=config.connect_timeout_s)
        self.info = ServerInfo(self._sess, config, self._headers)
        self._noted: set[tuple[str, str]] = set()

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
        """Model ids at one endpoint's /models."""
        return [str(item["id"]) for item in await self.info.listing(url)]

    async def model_name(self) -> str:
        """The configured model, checked against the first endpoint; else the first one it serves."""
        if self._model is not None and self._checked:
            return self._model
        ep = self.endpoints[0]
        listing = await self.info.listing(ep.url)
        served = [str(item["id"]) for item in listing]
        if self._model is None:
            if not served:
                raise LLMError("model", "the server lists no models at /models", endpoint=ep.url)
            self._model = served[0]
        elif self._model not in served:
            raise LLMError("model", f"model {self._model!r} is not served (it serves: {', '.join(served)}); pass one of those to --model or omit --model", endpoint=ep.url)
        self.info.learn_context(ep, listing, self._model)
        self._checked = True
        return self._model

    # -- context budget ----------------------------------------------------------------------------
    async def _fitted(self, ep: Endpoint, body: dict[str, Any], bound: int) -> dict[str, Any]:
        """`body` with max_tokens lowered to what `ep`'s context leaves after the prompt, if it must be."""
        ceiling = body.get("max_tokens")
        context = await self.info.context(ep, body["model"])
        if context is None or not isinstance(ceiling, int) or ceiling + bound <= context:
            return body
        counted = await self.info.count(ep, body)
        chosen = fit(ceiling, context, bound if counted is None else counted, counted=counted is not None)
        if not chosen.lowered:
            return body
        label = call_label.get()
        if (label, ep.url) not in self._noted:
            self._noted.add((label, ep.url))
            log.warning(lowered_note(label, ceiling, context, ep.url, chosen.counted))
        return {**body, "max_tokens": chosen.max_tokens}

    async def max_tokens_for(self, sampling: Sampling, messages: list[Message] | None = None,
                             prompt: str | None = None, continue_final: bool = False) -> int:
        """The max_tokens a request would carry to the first endpoint, for clients that send their own."""
        body = request_body(self._model or await self.model_name(), sampling)
        if prompt is not None:
            body["prompt"] = prompt
        else:
            body["messages"] = messages or []
            if continue_final:
                body.update(continue_final_message=True, add_generation_prompt=False)
        fitted = await self._fitted(self.endpoints[0], body, prompt_bound(messages, prompt))
        return int(fitted["max_tokens"])

    # -- calls -------------------------------------------------------------------------------------
    async def _post(self, path: str, body: dict[str, Any], bound: int) -> tuple[dict[str, Any], Endpoint, float, int]:
        cfg = self.config
        sent: dict[str, Any] | None = None
        payload = b""
        last: LLMError | None = None
        attempt = 0
        while attempt <= cfg.max_retries or self.pool.fleet_down():
            attempt += 1
            ep = await self.pool.pick()
            ep.in_flight += 1  # before any await, so that concurrent picks see the load
            stage = call_label.get()
            self.in_flight_by_stage[stage] += 1
            t0 = time.perf_counter()
            status, raw, err = 0, b"", None
            try:
                fitted = await self._fitted(ep, body, bound)
                if fitted is not sent:
                    sent, payload = fitted, dumps(fitted)
                async with self._sess().post(ep.url + path, data=payload, headers=self._headers) as resp:
                    status = resp.status
                    raw = await resp.read()
            except LLMError as exc:  # from sizing the request: the endpoint is down, or the prompt cannot fit
                if not exc.retryable:
                    raise
                err = exc
            except asyncio.TimeoutError:
                err = LLMError("timeout", f"no answer within {cfg.timeout_s:g}s", retryable=True)
            except (aiohttp.ClientError, OSError) as exc:
                err = LLMError("connection", one_line(str(exc) or type(exc).__name__), retryable=True)
            finally:
                ep.in_flight -= 1
                self.in_flight_by_stage[stage] -= 1
            latency = (time.perf_counter() - t0) * 1000
            if err is None and status == 200:
                try:
                    data = loads(raw)
                    if not isinstance(data, dict) or not data.get("choices"):
                        raise ValueError("no choices")
                    if usage_counts(data) is None:
                        raise ValueError("bad usage")
                    self.pool.succeeded(ep)
                    return data, ep, latency, attempt
                except ValueError:
                    err = LLMError("malformed", f"unparseable completion body: {one_line(raw.decode('utf-8', 'replace'), 120)}", status=200, retryable=True)
            elif err is None:
                message = error_message(raw)
                retryable = status == 429 or status >= 500
                kind = "model" if status == 404 and "model" in message.lower() else "http"
                kind = "context" if is_context_error(status, message) else kind
                err = LLMError(kind, message, status=status, retryable=retryable)
            err.endpoint, err.attempts = ep.url, attempt
            if not err.retryable:
                raise err
            if err.status != 429:
                self.pool.failed(ep, err)
            last = err
            if attempt > cfg.max_retries and self.pool.fleet_down():
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
        data, ep, latency, attempts = await self._post("/chat/completions", body, prompt_bound(messages))
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
        data, ep, latency, attempts = await self._post("/completions", body, prompt_bound(prompt=prompt))
        try:
            choice = data["choices"][0]
            text = choice.get("text") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise LLMError("malformed", "completion has no choices[0].text", endpoint=ep.url) from None
        return self._finish(data, choice, text, None, ep, latency, attempts)

    def _finish(self, data: dict[str, Any], choice: dict[str, Any], text: Any, reasoning: Any,
                ep: Endpoint, latency: float, attempts: int) -> Completion:
        if not isinstance(text, str) or (reasoning is not None and not isinstance(reasoning, str)):
            raise LLMError("malformed", "completion content is not text", endpoint=ep.url, attempts=attempts)
        if not text.strip() and not (reasoning or "").strip():
            raise LLMError("empty", f"the model returned no text (finish_reason={choice.get('finish_reason')})", endpoint=ep.url, attempts=attempts)
        prompt_tokens, completion_tokens = usage_counts(data) or (0, 0)
        ep.completion_tokens += completion_tokens
        return Completion(
            text=text,
            reasoning=reasoning,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_ms=latency,
            endpoint=ep.url,
            attempts=attempts,
        )
