"""The embedded server: `embedded_server` gives a CLI an endpoint when the user named none, reusing one that
already answers on the port or starting SmolLM2-135M on the chosen engine (vLLM by default, llama.cpp on
request) and stopping it on exit."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from graph.serve import llamacpp, vllm
from graph.serve.probe import DEFAULT_HOST, PortState, loopback, model_owners, probe
from graph.serve.process import DEFAULT_PORT, Launch, ServeError, ServerProcess, sigterm_as_exit

ENGINES = {"vllm": vllm, "llamacpp": llamacpp}
DEFAULT_ENGINE = "vllm"
ENGINE_ENV = "MUSER_EMBEDDED_ENGINE"
PORT_ENV = "MUSER_EMBEDDED_PORT"


@dataclass(frozen=True)
class Embedded:
    """The embedded server a command is using, and what a run on its engine must respect."""

    url: str
    engine: str
    profile: dict[str, Any]  # config overrides the engine needs
    concurrency: int  # graphs in flight it can usefully take


def embedded_port() -> int:
    """The embedded server's port: $MUSER_EMBEDDED_PORT, else the default; ServeError for a bad value."""
    raw = os.environ.get(PORT_ENV)
    if raw is None or raw == "":
        return DEFAULT_PORT
    if not (raw.isdigit() and 0 < int(raw) < 65536):
        raise ServeError(f"{PORT_ENV}={raw!r} must be a port number")
    return int(raw)


def engine_name(name: str | None = None) -> str:
    """The embedded engine: `name`, else $MUSER_EMBEDDED_ENGINE, else vLLM."""
    chosen = (name or os.environ.get(ENGINE_ENV) or DEFAULT_ENGINE).strip().lower()
    if chosen not in ENGINES:
        raise ServeError(f"unknown embedded engine {chosen!r} (from ${ENGINE_ENV} or --backend); use vllm or llamacpp")
    return chosen


def describe(url: str, engine: str) -> Embedded:
    module = ENGINES[engine]
    return Embedded(url, engine, dict(module.PROFILE), module.CONCURRENCY)


def running_engine(port: int, log: Callable[[str], object]) -> str | None:
    """The engine of an OpenAI-compatible server already on the port (vLLM says so in /v1/models), or None
    when the port is free; raises if another program holds it."""
    state, models = probe(loopback(DEFAULT_HOST), port)
    if state is PortState.FOREIGN:
        raise ServeError(
            f"port {port} is in use by another program; pass --port (or set MUSER_EMBEDDED_PORT) with a free "
            "port, or --base-url for a running OpenAI-compatible server"
        )
    if state is PortState.FREE:
        return None
    owners = model_owners(loopback(DEFAULT_HOST), port)
    engine = "vllm" if "vllm" in owners else "llamacpp"
    log(f"reusing the {engine} server on port {port} (models: {', '.join(models) or 'busy, not listed'})")
    return engine


@contextlib.contextmanager
def embedded_server(*, port: int | None = None, log: Callable[[str], object] = print, engine: str | None = None,
                    startup_timeout: float | None = None) -> Iterator[Embedded]:
    """Reuse the embedded server already answering on its port, or start one (on `engine`), wait until
    /v1/models answers, and stop it on exit, including on Ctrl-C, SIGTERM and error."""
    port = DEFAULT_PORT if port is None else port
    url = f"http://{loopback(DEFAULT_HOST)}:{port}/v1"
    running = running_engine(port, log)
    if running:
        yield describe(url, running)
        return
    name = engine_name(engine)
    launch: Launch = ENGINES[name].launch(host=DEFAULT_HOST, port=port)
    server = ServerProcess(launch, port=port, startup_timeout=startup_timeout)
    log(f"starting the embedded model {server.alias} ({name}, CPU) on {url} … (up to {server.startup_timeout:.0f}s)")
    with sigterm_as_exit():
        try:
            server.start()
        except ServeError:
            running = running_engine(port, log)  # another run may have won the race for the port
            if not running:
                raise
            name, started = running, False
        else:
            started = True
            log(f"embedded server ready in {server.startup_seconds:.1f}s")
        try:
            yield describe(url, name)
        finally:
            if started:
                server.stop()
                log("embedded server stopped")


@contextlib.contextmanager
def endpoints_or_embedded(base_urls: list[str], *, port: int | None = None, log: Callable[[str], object] = print,
                          engine: str | None = None) -> Iterator[list[str]]:
    """`base_urls` unchanged when given, else [the embedded server's URL] for the duration of the block."""
    if base_urls:
        yield list(base_urls)
        return
    with embedded_server(port=port, log=log, engine=engine) as emb:
        yield [emb.url]
