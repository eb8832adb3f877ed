"""Shared fixtures: a real scripted OpenAI-compatible server on 127.0.0.1 (random port)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).parent))

import vllm_session
from stub_server import StubServer
from vllm_session import VllmServer


@pytest.fixture
def stub() -> Iterator[StubServer]:
    """A started stub server; tests add `rules`, `faults` or `latency_ms` before calling it."""
    server = StubServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def vllm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    """The session's real vLLM server (slow tests only: it takes about a minute to start on 2 cores)."""
    proc, server = vllm_session.start(tmp_path_factory.mktemp("vllm"))
    yield server
    vllm_session.stop(proc, server)
