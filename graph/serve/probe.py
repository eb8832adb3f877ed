"""What answers on a local port: nothing, an OpenAI-compatible server (and which engine), or another program.
Loopback probes never go through an HTTP proxy from the environment."""

from __future__ import annotations

import enum
import json
import socket
import urllib.error
import urllib.request

DEFAULT_HOST = "127.0.0.1"


class PortState(enum.Enum):
    """What answers on a port: nothing, an OpenAI-compatible server, or some other program."""

    FREE = "free"
    OPENAI = "openai"
    FOREIGN = "foreign"


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def loopback(host: str) -> str:
    """The address to connect to for a server bound on `host` (a wildcard bind is reached on loopback)."""
    return "127.0.0.1" if host in ("", "0.0.0.0") else host


def _get_json(url: str, timeout: float) -> object:
    with _DIRECT.open(url, timeout=timeout) as resp:
        return json.loads(resp.read(1 << 20))


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or (
        isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, TimeoutError)
    )


def probe(host: str, port: int, *, timeout: float = 5.0) -> tuple[PortState, list[str]]:
    """Classify host:port and list the served model ids. llama.cpp answers /v1/models only between
    generations, so a busy server is recognised by the routes in its /openapi.json instead."""
    try:
        socket.create_connection((host, port), timeout=min(timeout, 2.0)).close()
    except OSError:
        return PortState.FREE, []
    base = f"http://{host}:{port}"
    try:
        data = _get_json(f"{base}/v1/models", timeout)
    except (OSError, ValueError) as exc:
        if not _timed_out(exc):
            return PortState.FOREIGN, []
        try:
            spec = _get_json(f"{base}/openapi.json", timeout)
        except (OSError, ValueError):
            return PortState.FOREIGN, []
        paths = spec.get("paths") if isinstance(spec, dict) else None
        busy_openai = isinstance(paths, dict) and "/v1/chat/completions" in paths
        return (PortState.OPENAI if busy_openai else PortState.FOREIGN), []
    listed = data.get("data") if isinstance(data, dict) else None
    if not isinstance(listed, list):
        return PortState.FOREIGN, []
    return PortState.OPENAI, [str(m.get("id")) for m in listed if isinstance(m, dict)]


def model_owners(host: str, port: int, timeout: float = 5.0) -> set[str]:
    """The `owned_by` values in a server's /v1/models (vLLM writes "vllm"); empty when it does not say."""
    try:
        data = _get_json(f"http://{host}:{port}/v1/models", timeout)
    except (OSError, ValueError):
        return set()
    listed = data.get("data") if isinstance(data, dict) else None
    return {str(m.get("owned_by")) for m in listed or [] if isinstance(m, dict)}


