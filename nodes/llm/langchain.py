"""ChatClient over langchain-openai's ChatOpenAI (`client: langchain`), so LangSmith tracing and
LangChain callbacks see every call. Slower than the aiohttp client at high concurrency; meant for
tracing and experiments, and it talks to the first base URL only. Its max_tokens are sized to the
served context by the HTTP client's rules (nodes/budget.py)."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
from langchain_openai import ChatOpenAI

from nodes.llm.client import Completion, LLMError, Message
from nodes.llm.http import HttpClient
from state.config import EndpointConfig, Sampling


def _as_llm_error(exc: Exception, url: str) -> LLMError:
    """openai SDK errors → the project's typed, one-line LLMError."""
    if isinstance(exc, openai.APITimeoutError):
        return LLMError("timeout", "the request timed out", endpoint=url)
    if isinstance(exc, openai.APIConnectionError):
        return LLMError("connection", "cannot reach the server; is it running? check --base-url", endpoint=url)
    if isinstance(exc, openai.APIStatusError):
        message = " ".join(str(exc.message).split())[:240]
        kind = "model" if exc.status_code == 404 and "model" in message.lower() else "http"
        return LLMError(kind, message, status=exc.status_code, retryable=exc.status_code in (429, 500, 502, 503, 504), endpoint=url)
    return LLMError("malformed", f"{type(exc).__name__}: {exc}", endpoint=url)


class LangChainClient:
    """The ChatClient protocol on ChatOpenAI; retries are the SDK's own (capped by max_retries)."""

    def __init__(self, config: EndpointConfig) -> None:
        if not config.base_urls:
            raise LLMError("config", "no endpoint configured; pass --base-url")
        self.config = config
        self.url = config.base_urls[0]
        self._model = config.model
        self._llms: dict[str, ChatOpenAI] = {}
        self._sizer = HttpClient(config.model_copy(update={"base_urls": [self.url]}))  # /models and /tokenize only
        self._sdk = openai.AsyncOpenAI(base_url=self.url, api_key=config.api_key, timeout=config.timeout_s,
                                       max_retries=config.max_retries)

    async def model_name(self) -> str:
        try:
            served = [m.id async for m in self._sdk.models.list()]
        except openai.OpenAIError as exc:
            raise _as_llm_error(exc, self.url) from None
        if self._model is None:
            if not served:
                raise LLMError("model", "the server lists no models", endpoint=self.url)
            self._model = served[0]
        elif self._model not in served:
            raise LLMError("model", f"model {self._model!r} is not served (it serves: {', '.join(served)}); pass one of those to --model", endpoint=self.url)
        return self._model

    def _llm(self, sampling: Sampling, extra: dict[str, Any]) -> ChatOpenAI:
        body = dict(sampling.extra_body)
        if sampling.top_k is not None:
            body["top_k"] = sampling.top_k
        body.update(extra)
        key = json.dumps([sampling.model_dump(exclude={"extra_body"}), body], sort_keys=True)
        if key not in self._llms:
            self._llms[key] = ChatOpenAI(
                model=self._model or "", base_url=self.url, api_key=self.config.api_key,  # type: ignore[arg-type]
                temperature=sampling.temperature, top_p=sampling.top_p, max_tokens=sampling.max_tokens,  # type: ignore[call-arg]
                seed=sampling.seed, timeout=self.config.timeout_s, max_retries=self.config.max_retries,
                extra_body=body or None,
            )
        return self._llms[key]

    async def chat(self, messages: list[Message], sampling: Sampling, *, continue_final: bool = False,
                   response_format: dict[str, Any] | None = None) -> Completion:
        if self._model is None:
            await self.model_name()
        extra: dict[str, Any] = {"continue_final_message": True, "add_generation_prompt": False} if continue_final else {}
        sampling = await self._sized(sampling, messages=messages, continue_final=continue_final)
        llm: Any = self._llm(sampling, extra)
        if response_format is not None:
            llm = llm.bind(response_format=response_format)
        t0 = time.perf_counter()
        try:
            msg = await llm.ainvoke([(m["role"], m["content"]) for m in messages])
        except openai.OpenAIError as exc:
            raise _as_llm_error(exc, self.url) from None
        text = msg.content if isinstance(msg.content, str) else "".join(str(part) for part in msg.content)
        reasoning = msg.additional_kwargs.get("reasoning_content")
        if not text.strip() and not (reasoning or "").strip():
            raise LLMError("empty", "the model returned no text", endpoint=self.url)
        usage = msg.usage_metadata or {}
        return Completion(text=text, reasoning=reasoning, finish_reason=msg.response_metadata.get("finish_reason"),
                          prompt_tokens=int(usage.get("input_tokens", 0)), completion_tokens=int(usage.get("output_tokens", 0)),
                          latency_ms=(time.perf_counter() - t0) * 1000, endpoint=self.url)

    async def _sized(self, sampling: Sampling, **request: Any) -> Sampling:
        max_tokens = await self._sizer.max_tokens_for(sampling, **request)
        return sampling if max_tokens == sampling.max_tokens else sampling.model_copy(update={"max_tokens": max_tokens})

    async def complete(self, prompt: str, sampling: Sampling) -> Completion:
        if self._model is None:
            await self.model_name()
        sampling = await self._sized(sampling, prompt=prompt)
        body = dict(sampling.extra_body)
        if sampling.top_k is not None:
            body["top_k"] = sampling.top_k
        t0 = time.perf_counter()
        try:
            out = await self._sdk.completions.create(model=self._model or "", prompt=prompt, temperature=sampling.temperature,
                                                     top_p=sampling.top_p, max_tokens=sampling.max_tokens, extra_body=body or None)
        except openai.OpenAIError as exc:
            raise _as_llm_error(exc, self.url) from None
        text = out.choices[0].text if out.choices else ""
        if not text.strip():
            raise LLMError("empty", "the model returned no text", endpoint=self.url)
        usage = out.usage
        return Completion(text=text, finish_reason=out.choices[0].finish_reason,
                          prompt_tokens=usage.prompt_tokens if usage else 0, completion_tokens=usage.completion_tokens if usage else 0,
                          latency_ms=(time.perf_counter() - t0) * 1000, endpoint=self.url)

    async def aclose(self) -> None:
        await self._sizer.aclose()
        await self._sdk.close()
