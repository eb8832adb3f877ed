"""Shared fixtures: a real scripted OpenAI-compatible server on 127.0.0.1 (random port)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).parent))

from stub_server import StubServer


@pytest.fixture
def stub() -> Iterator[StubServer]:
    """A started stub server; tests add `rules`, `faults` or `latency_ms` before calling it."""
    server = StubServer().start()
    yield server
    server.stop()
