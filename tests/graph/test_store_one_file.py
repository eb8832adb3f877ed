"""The store's lock follows the file, not the path as typed: a second run through a symlink, a relative path or
a hard link to a store in use is refused, and a non-regular file is never used as a store. Real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from storekit import RULES, accounted, cli, count, env, one_line_error, start, wait_for
from stub_server import StubServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def slow_stub() -> Iterator[StubServer]:
    """Each call takes 60 ms, so the first run is still going when the second one starts."""
    stub = StubServer(rules=list(RULES), record=False, latency_ms=60).start()
    yield stub
    stub.stop()


def _second_run_is_refused(first_db: Path, second: list[str], stub: StubServer, cwd: Path | None = None,
                           then: Callable[[], None] = lambda: None) -> None:
    """Start a run on `first_db` (then call `then`), then `graph.run` with `second` (another path to the same
    file) must be refused; after the first is killed and resumed, every id is stored exactly once."""
    first = start("graph.run", "--n", "300", "--db", str(first_db), "--base-url", stub.url, "--concurrency", "4")
    try:
        wait_for("the first run to store results", lambda: count(first_db, "results") >= 3)
        then()
        proc = subprocess.run([sys.executable, "-m", "graph.run", "--n", "300", *second, "--base-url", stub.url,
                               "--concurrency", "4"], capture_output=True, text=True, timeout=120, cwd=cwd,
                              env=env(PYTHONPATH=str(ROOT)))
        one_line_error(proc, "is in use by")
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    stub.latency_ms = 0
    cli("graph.run", "--db", str(first_db), "--concurrency", "16", timeout=240, check=True)
    accounted(first_db, 300)


def test_a_symlink_to_a_store_in_use_is_refused(slow_stub: StubServer, tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "alias.sqlite").symlink_to(db)
    _second_run_is_refused(db, ["--db", str(tmp_path / "link" / "alias.sqlite")], slow_stub)


def test_a_relative_path_to_a_store_in_use_is_refused(slow_stub: StubServer, tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    (tmp_path / "sub").mkdir()
    _second_run_is_refused(db, ["--db", "../sub/.././a.sqlite"], slow_stub, cwd=tmp_path / "sub")


def test_a_hard_link_to_a_store_in_use_is_refused(slow_stub: StubServer, tmp_path: Path) -> None:
    db, hard = tmp_path / "a.sqlite", tmp_path / "other" / "hard.sqlite"
    hard.parent.mkdir()
    _second_run_is_refused(db, ["--db", str(hard)], slow_stub, then=lambda: os.link(db, hard))


def test_graph_queries_through_a_symlink_is_refused(slow_stub: StubServer, tmp_path: Path) -> None:
    db = tmp_path / "a.sqlite"
    (tmp_path / "alias.sqlite").symlink_to(db)
    run = start("graph.run", "--n", "300", "--db", str(db), "--base-url", slow_stub.url, "--concurrency", "2")
    try:
        wait_for("the run to store a result", lambda: count(db, "results") >= 1)
        queries = cli("graph.queries", "--n", "300", "--db", str(tmp_path / "alias.sqlite"), "--base-url", slow_stub.url)
        one_line_error(queries, "in use by graph.run")
    finally:
        os.kill(run.pid, signal.SIGKILL)
        run.wait()


def test_a_device_is_not_a_store(stub: StubServer, tmp_path: Path) -> None:
    stub.rules = list(RULES)
    proc = cli("graph.run", "--n", "2", "--db", "/dev/null", "--base-url", stub.url)
    one_line_error(proc, "/dev/null is not a regular file")
    assert not Path("/dev/null-journal").exists() and not Path("/dev/null.lock").exists()
