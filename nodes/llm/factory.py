"""`make_client`: the one place that knows every client implementation and picks one by config."""

from __future__ import annotations

from nodes.llm.client import ChatClient
from nodes.llm.http import HttpClient
from state.config import EndpointConfig, RunConfig


def make_client(config: RunConfig, endpoint: EndpointConfig | None = None, concurrency: int = 256) -> ChatClient:
    """Build the client chosen by `config.client` for `endpoint` (default: the backbone endpoint)."""
    ep = endpoint or config.endpoint
    if config.client == "langchain":  # imported on demand: langchain-openai is slow to import
        from nodes.llm.langchain import LangChainClient

        return LangChainClient(ep)
    return HttpClient(ep, concurrency=concurrency)
