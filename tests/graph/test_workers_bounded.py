"""--workers is bounded by the ids left to run, a signal during start-up stops the spawning, and a worker whose
parent is killed exits without a traceback. Real processes and signals against the stub server."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from procfs import alive
from storekit import RULES, accounted, cli, start, wait_for
from stub_server import StubServer
from test_store_owner import _worker_pids


def _watch(parent: int, seen: set[int], until: float) -> None:
    while time.monotonic() < until and alive(parent):
        seen.update(_worker_pids(parent))
        time.sleep(0.05)


def test_workers_are_capped_at_the_pending_ids(stub: StubServer, tmp_path: Path) -> None:
    stub.rules = list(RULES)
    db = tmp_path / "w.sqlite"
    t0 = time.monotonic()
    proc = start("graph.run", "--n", "5", "--db", str(db), "--base-url", stub.url, "--workers", "500")
    seen: set[int] = set()
    _watch(proc.pid, seen, time.monotonic() + 240)
    assert proc.wait(timeout=10) == 0, proc.stderr.read().decode() if proc.stderr else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert "--workers 500 lowered to 5" in err and "Traceback" not in err, err
    assert len(seen) <= 5 and time.monotonic() - t0 < 240
    accounted(db, 5)
    again = cli("graph.run", "--db", str(db), "--workers", "8", "--base-url", stub.url, check=True)
    assert "--workers 8 lowered to 1" in again.stderr  # nothing left: one worker confirms it and exits


def test_sigterm_during_start_up_stops_the_spawning(stub: StubServer, tmp_path: Path) -> None:
    stub.rules, stub.latency_ms = list(RULES), 60
    db = tmp_path / "w.sqlite"
    proc = start("graph.run", "--n", "400", "--db", str(db), "--base-url", stub.url, "--workers", "12",
                 "--concurrency", "2")
    seen: set[int] = set()
    wait_for("the first worker", lambda: bool(seen.update(_worker_pids(proc.pid)) or seen), timeout=120)
    os.kill(proc.pid, signal.SIGTERM)
    t0 = time.monotonic()
    _watch(proc.pid, seen, t0 + 60)
    assert proc.wait(timeout=30) == 130 and time.monotonic() - t0 < 45
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert "interrupted by SIGTERM" in err and "Traceback" not in err, err
    wait_for("every worker to exit", lambda: not any(alive(pid) for pid in seen), timeout=30)
    stub.latency_ms = 0
    cli("graph.run", "--db", str(db), "--concurrency", "16", timeout=240, check=True)
    accounted(db, 400)


def test_kill_9_of_the_parent_leaves_no_worker_and_no_traceback(stub: StubServer, tmp_path: Path) -> None:
    """Killed while it is still spawning: children half-launched must exit quietly with the others."""
    stub.rules, stub.latency_ms = list(RULES), 60
    db = tmp_path / "w.sqlite"
    proc = start("graph.run", "--n", "400", "--db", str(db), "--base-url", stub.url, "--workers", "4",
                 "--concurrency", "2")
    seen: set[int] = set()
    wait_for("the first worker", lambda: bool(seen.update(_worker_pids(proc.pid)) or seen), timeout=120)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    wait_for("every worker to exit", lambda: not any(alive(pid) for pid in seen), timeout=60)
    time.sleep(1)
    err = proc.stderr.read().decode() if proc.stderr else ""  # the workers write to the same pipe
    assert "Traceback" not in err and "EOFError" not in err, err
    accounted(db)
