"""One running owner per store, and --workers runs that stop on signals: real processes, real signals."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from procfs import alive, children
from storekit import RULES, accounted, cli, count, one_line_error, start, wait_for
from stub_server import StubServer


@pytest.fixture
def slow_stub() -> Iterator[StubServer]:
    """Each call takes 60 ms, so a run of a few hundred ids is still going when the test acts."""
    stub = StubServer(rules=list(RULES), record=False, latency_ms=60).start()
    yield stub
    stub.stop()


def test_second_run_is_refused_and_a_killed_owner_does_not_block(slow_stub: StubServer, tmp_path: Path) -> None:
    db = tmp_path / "owned.sqlite"
    first = start("graph.run", "--n", "400", "--db", str(db), "--base-url", slow_stub.url, "--concurrency", "4")
    try:
        wait_for("the first run to store results", lambda: count(db, "results") >= 3)
        second = cli("graph.run", "--n", "400", "--db", str(db), "--base-url", slow_stub.url, "--concurrency", "4")
        one_line_error(second, f"in use by graph.run (pid {first.pid} on host")
        assert "started 20" in second.stderr
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert Path(f"{db}.lock").exists(), "kill -9 leaves the lock file (with the dead owner's name) behind"
    slow_stub.latency_ms = 0
    resumed = cli("graph.run", "--db", str(db), "--concurrency", "16", timeout=240, check=True)
    assert "stored: 400 results" in resumed.stderr
    accounted(db, 400)
    assert not Path(f"{db}.lock").exists(), "a finished run removes its lock file"


def test_graph_queries_is_refused_while_a_run_owns_the_store(slow_stub: StubServer, tmp_path: Path) -> None:
    db = tmp_path / "owned.sqlite"
    run = start("graph.run", "--n", "300", "--db", str(db), "--base-url", slow_stub.url, "--concurrency", "2")
    try:
        wait_for("the run to store a result", lambda: count(db, "results") >= 1)
        queries = cli("graph.queries", "--n", "300", "--db", str(db), "--base-url", slow_stub.url)
        one_line_error(queries, "in use by graph.run")
    finally:
        os.kill(run.pid, signal.SIGKILL)
        run.wait()


def _worker_pids(parent: int) -> list[int]:
    """The parent's spawned workers (the resource tracker is a child too, but not a worker)."""
    def is_worker(pid: int) -> bool:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        return b"spawn_main" in cmd and b"resource_tracker import" not in cmd
    return [pid for pid in children(parent) if is_worker(pid)]


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "n_workers"), [(signal.SIGTERM, 2), (signal.SIGINT, 2), (signal.SIGTERM, 1)])
def test_signal_to_the_parent_stops_every_worker(sig: signal.Signals, n_workers: int, slow_stub: StubServer,
                                                 tmp_path: Path) -> None:
    db = tmp_path / "workers.sqlite"
    n = 300
    parent = start("graph.run", "--n", str(n), "--db", str(db), "--base-url", slow_stub.url,
                   "--workers", str(n_workers), "--concurrency", "3")
    try:
        wait_for("the run to store results", lambda: count(db, "results") >= 6, timeout=120)
        workers = _worker_pids(parent.pid)
        assert len(workers) == (n_workers if n_workers > 1 else 0)
        t0 = time.monotonic()
        os.kill(parent.pid, sig)
        code = parent.wait(timeout=30)
        took = time.monotonic() - t0
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
    stderr = parent.stderr.read().decode() if parent.stderr else ""
    assert code == 130, stderr[-1500:]
    assert took < 15, f"stopping took {took:.1f}s"
    assert not [w for w in workers if alive(w)], "a worker outlived the parent"
    assert "Traceback" not in stderr and f"interrupted by {sig.name}" in stderr.splitlines()[-1]
    stored = count(db, "results")
    time.sleep(1.0)
    assert count(db, "results") == stored < n, "nothing may be written once the run has stopped"
    accounted(db)
    slow_stub.latency_ms = 0
    cli("graph.run", "--db", str(db), "--workers", str(n_workers), "--concurrency", "16", timeout=240, check=True)
    accounted(db, n)


@pytest.mark.slow
def test_ctrl_c_during_worker_start_up_leaves_no_traceback(slow_stub: StubServer, tmp_path: Path) -> None:
    db = tmp_path / "startup.sqlite"
    parent = start("graph.run", "--n", "40", "--db", str(db), "--base-url", slow_stub.url, "--workers", "2")
    try:
        wait_for("the workers to be spawned", lambda: len(_worker_pids(parent.pid)) >= 1, timeout=120)
        os.killpg(parent.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        code = parent.wait(timeout=30)
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
    stderr = parent.stderr.read().decode() if parent.stderr else ""
    assert code == 130, stderr[-1500:]
    assert "Traceback" not in stderr and "Error" not in stderr.replace("error: run stopped", ""), stderr[-3000:]
    accounted(db)
    slow_stub.latency_ms = 0
    cli("graph.run", "--db", str(db), timeout=240, check=True)
    accounted(db, 40)


@pytest.mark.slow
def test_workers_stop_when_the_parent_is_killed(slow_stub: StubServer, tmp_path: Path) -> None:
    db = tmp_path / "orphans.sqlite"
    parent = start("graph.run", "--n", "300", "--db", str(db), "--base-url", slow_stub.url, "--workers", "2",
                   "--concurrency", "3")
    wait_for("both workers to store results", lambda: count(db, "results") >= 6, timeout=120)
    workers = _worker_pids(parent.pid)
    assert len(workers) == 2
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    wait_for("the orphaned workers to exit", lambda: not any(alive(w) for w in workers), timeout=10)
    stored = count(db, "results")
    time.sleep(1.0)
    assert count(db, "results") == stored
    slow_stub.latency_ms = 0
    cli("graph.run", "--db", str(db), "--workers", "2", "--concurrency", "16", timeout=240, check=True)
    accounted(db, 300)
