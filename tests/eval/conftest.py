"""Fixtures for the HealthBench tests: started stub policy and grader servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from evalkit import stub_grade
from stub_server import StubServer


@pytest.fixture
def servers() -> Iterator[Callable[..., StubServer]]:
    """Factory of started stub servers (stopped at teardown): servers(model, default_reply)."""
    started: list[StubServer] = []

    def make(model: str, default: Any = None) -> StubServer:
        server = (
            StubServer(models=[model]) if default is None else StubServer(models=[model], default=default)
        )
        started.append(server.start())
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def policy(servers: Callable[..., StubServer]) -> StubServer:
    return servers("policy-model")


@pytest.fixture
def grader(servers: Callable[..., StubServer]) -> StubServer:
    return servers("grader-model", stub_grade)
