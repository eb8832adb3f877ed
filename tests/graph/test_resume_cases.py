"""Resuming a store as a user would: naming the model that was discovered, shrinking --n with --force, and a
store that cannot be written. Real graph.run processes against the stub server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from storekit import RULES, accounted, cli, digest, one_line_error, rows
from stub_server import StubServer


@contextmanager
def read_only_file(path: Path) -> Iterator[None]:
    """`path` cannot be opened for writing; as root (where permissions do not apply) made immutable."""
    path.chmod(0o444)
    root = os.geteuid() == 0
    if root and (not shutil.which("chattr")
                 or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0):
        pytest.skip("running as root without chattr +i: cannot make a read-only file")
    try:
        yield
    finally:
        if root:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        path.chmod(0o644)


def test_resume_naming_the_discovered_model_and_shrinking_n(stub: StubServer, tmp_path: Path) -> None:
    stub.rules = list(RULES)
    db = tmp_path / "s.sqlite"
    cli("graph.run", "--n", "30", "--db", str(db), "--base-url", stub.url, check=True)
    stored = json.loads(rows(db, "SELECT config FROM runs")[0][0])
    assert stored["endpoint"]["model"] == "stub-model"  # the discovered model is recorded
    named = cli("graph.run", "--db", str(db), "--base-url", stub.url, "--model", "stub-model")
    assert named.returncode == 0, named.stderr[-1500:]
    other = cli("graph.run", "--db", str(db), "--base-url", stub.url, "--model", "another-model")
    assert other.returncode == 2 and "another-model" in other.stderr.strip().splitlines()[-1]
    smaller = cli("graph.run", "--db", str(db), "--base-url", stub.url, "--n", "10", "--force", check=True)
    assert "done 10/10" in smaller.stderr and "done 30/10" not in smaller.stderr, smaller.stderr
    accounted(db, 30)


def test_a_read_only_store_is_named_read_only_and_left_alone(stub: StubServer, tmp_path: Path) -> None:
    stub.rules = list(RULES)
    db = tmp_path / "s.sqlite"
    cli("graph.run", "--n", "5", "--db", str(db), "--base-url", stub.url, check=True)
    before = digest(db)
    with read_only_file(db):
        proc = cli("graph.run", "--db", str(db), "--base-url", stub.url, "--retry-failed")
        one_line_error(proc, "is read-only")
        assert "corrupt" not in proc.stderr
    assert digest(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite"]  # no -wal, -shm or lock file left
