"""`training.data` on a store with a valid header but corrupt pages: one line, exit 2, nothing left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from training_store import store_rows, write_store

PAGE = 4096  # SQLite's default page size, which the fixture's stores use


def damage(path: Path, from_fraction: float) -> None:
    """Overwrite every page from `from_fraction` of the file on with junk; page 1 (header, schema) survives."""
    data = bytearray(path.read_bytes())
    pages = len(data) // PAGE
    for page in range(max(1, int(pages * from_fraction)), pages):
        data[page * PAGE : (page + 1) * PAGE] = b"\xab" * PAGE
    path.write_bytes(bytes(data))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "training.data", *args], capture_output=True, text=True)


def test_damaged_pages_mid_scan_keep_the_previous_dataset_and_leave_no_tmp(tmp_path: Path) -> None:
    store = write_store(tmp_path / "store.sqlite", store_rows(300))
    out = tmp_path / "kd"
    assert run("--db", str(store), "--stage", "kd", "--out", str(out)).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    damage(store, 0.6)  # the scan reads well over 100 records before it meets a broken page

    proc = run("--db", str(store), "--stage", "kd", "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"error: store {store} is damaged (database disk image is malformed)")
    assert ".recover" in lines[0]
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no .tmp file, old files untouched


def test_damaged_store_into_a_new_directory_creates_nothing(tmp_path: Path) -> None:
    store = write_store(tmp_path / "store.sqlite", store_rows(300))
    damage(store, 0.2)
    out = tmp_path / "new" / "kd"
    proc = run("--db", str(store), "--stage", "sr", "--out", str(out))
    assert proc.returncode == 2 and "is damaged" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def test_store_that_is_a_directory_and_out_that_is_a_file(tmp_path: Path) -> None:
    proc = run("--db", str(tmp_path), "--stage", "kd", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "is a directory" in proc.stderr and "Traceback" not in proc.stderr
    store = write_store(tmp_path / "store.sqlite", store_rows(2))
    (tmp_path / "file").write_text("x")
    proc = run("--db", str(store), "--stage", "kd", "--out", str(tmp_path / "file"))
    assert proc.returncode == 2 and "--out" in proc.stderr and "is a file" in proc.stderr
