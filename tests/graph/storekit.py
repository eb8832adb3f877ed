"""Helpers for the store-misuse tests: CLI subprocesses, store reads, worker processes, read-only dirs."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REVISED = ("Please keep the child hydrated with small, frequent sips. Watch for warning signs such as "
           "unusual sleepiness, fast breathing or a rash that does not fade. Paracetamol at the dose for her weight "
           "can ease the discomfort. See a doctor today if the fever lasts beyond three days or she drinks much "
           "less than usual.")  # varied sentences: a repeated one is a loop the gate drops
RULES = [
    ("Context to check", "1. We should ask the user about their age.\n2. We should ask about current medicines."),
    ("pitched its answer", "N/A"),
    ("Perspectives to check", "We should tell the user to seek urgent care if breathing becomes difficult."),
    ("Your reflection", "Revised answer. " + REVISED),
]


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("MUSER_")}
    out.update(extra)
    return out


def cli(*args: str | bytes, timeout: float = 120, check: bool = False, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m <args>`; with check, a non-zero exit fails the test with the stderr tail."""
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout,
                          env=env(**extra_env), errors="replace")
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


def start(*args: str, **kwargs: object) -> subprocess.Popen[bytes]:
    """`python -m <args>` in the background, in its own session (so a test can signal its whole group)."""
    return subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env(), start_new_session=True, **kwargs)  # type: ignore[call-overload]


def one_line_error(proc: subprocess.CompletedProcess[str], needle: str, code: int = 2) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    err = proc.stderr.strip()
    assert "Traceback" not in err and err.startswith("error:") and "\n" not in err, err
    assert needle in err, err


def rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def count(db: Path, table: str) -> int:
    """Rows in `table`, 0 while the file or table is not there yet."""
    try:
        return int(rows(db, f"SELECT count(*) FROM {table}")[0][0]) if db.exists() else 0
    except sqlite3.OperationalError:
        return 0


def accounted(db: Path, n: int | None = None) -> set[int]:
    """No id is in both results and failures (and with n, every id 0..n-1 is in one); returns the done ids."""
    results = {r[0] for r in rows(db, "SELECT id FROM results")}
    failures = {r[0] for r in rows(db, "SELECT id FROM failures")}
    assert not results & failures, sorted(results & failures)[:10]
    if n is not None:
        assert results | failures == set(range(n))
    return results | failures


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wait_for(what: str, check: object, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def read_only_dir(path: Path) -> Iterator[Path]:
    """A directory no one can create files in; as root (where permissions do not apply) made immutable."""
    path.mkdir()
    path.chmod(0o555)
    immutable = os.geteuid() == 0
    if immutable and (not shutil.which("chattr")
                      or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0):
        pytest.skip("running as root without chattr +i: cannot make a read-only directory")
    try:
        yield path
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        path.chmod(0o755)
