"""What the HTTP client asks a server besides completions: its model list (with vLLM's `max_model_len`)
and exact prompt token counts (vLLM's /tokenize). Both answer at once when the server is up, so they get
their own short time-out (`endpoint.discovery_timeout_s`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from nodes.llm.budget import tokenize_body, tokenize_url
from nodes.llm.client import LLMError
from nodes.llm.routing import Endpoint
from nodes.llm.wire import dumps, error_message, loads, one_line
from state.config import EndpointConfig


class ServerInfo:
    """Discovery calls over the client's session (`session` returns it, opening it if needed)."""

    def __init__(self, session: Callable[[], aiohttp.ClientSession], config: EndpointConfig,
                 headers: dict[str, str]) -> None:
        self._session, self._headers = session, headers
        self._quick_s = min(config.discovery_timeout_s, config.timeout_s)
        self._quick = aiohttp.ClientTimeout(total=self._quick_s, sock_connect=config.connect_timeout_s)

    async def listing(self, url: str) -> list[dict[str, Any]]:
        """The entries of one endpoint's /models; LLMError with a one-line reason when it does not answer."""
        try:
            async with self._session().get(f"{url}/models", headers=self._headers, timeout=self._quick) as resp:
                raw = await resp.read()
                if resp.status != 200:
                    raise LLMError("http", f"GET /models: {error_message(raw)}", status=resp.status, endpoint=url)
        except asyncio.TimeoutError:  # before OSError: TimeoutError is an OSError since Python 3.11
            raise LLMError("timeout", f"GET /models timed out after {self._quick_s:g}s; is this the server's URL? "
                           "check --base-url", endpoint=url) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise LLMError(
                "connection",
                f"cannot reach the server ({one_line(str(exc) or type(exc).__name__)}); is it running? check --base-url",
                endpoint=url,
            ) from None
        try:
            return [item for item in loads(raw)["data"] if isinstance(item, dict) and "id" in item]
        except (ValueError, KeyError, TypeError):
            raise LLMError("malformed", "GET /models did not return an OpenAI model list; is this an OpenAI-compatible /v1 URL?", endpoint=url) from None

    def learn_context(self, ep: Endpoint, listing: list[dict[str, Any]], model: str) -> None:
        entry = next((item for item in listing if str(item["id"]) == model), None)
        value = entry.get("max_model_len") if entry else None
        ep.context = value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
        ep.context_known = True

    async def context(self, ep: Endpoint, model: str) -> int | None:
        """The endpoint's context length, asked once; None when it is not reported (or cannot be had)."""
        if not ep.context_known:
            async with ep.lock:
                if not ep.context_known:
                    try:
                        self.learn_context(ep, await self.listing(ep.url), model)
                    except LLMError as exc:
                        if exc.kind in ("connection", "timeout"):  # the endpoint is down: a failed attempt
                            exc.retryable = True
                            raise
                        return None  # asked again on the next call; the request itself says what is wrong
        return ep.context

    async def count(self, ep: Endpoint, body: dict[str, Any]) -> int | None:
        """The prompt's exact token count from the server's /tokenize; None where it has none."""
        if not ep.tokenize:
            return None
        try:
            async with self._session().post(tokenize_url(ep.url), data=dumps(tokenize_body(body["model"], body)),
                                         headers=self._headers, timeout=self._quick) as resp:
                raw = await resp.read()
                if resp.status in (404, 405):
                    ep.tokenize = False
                    return None
                count = loads(raw).get("count") if resp.status == 200 else None
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError, ValueError, AttributeError):
            return None
        return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None

