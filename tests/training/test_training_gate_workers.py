"""The gate's worker processes: a build judged in forked workers is byte-for-byte the build judged in one
process, on a real store mixing every defect; workers stop with the stream; bad counts are refused."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_training_gate import defect_rows
from training_store import long_answer, write_store

from training.data import build_dataset
from training.dataset import workers as gate_workers
from training.dataset.gate import GateOptions, StoreGate
from training.dataset.store import iter_stage_rows, open_store
from training.errors import InputError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "graph"))
from storekit import cli, one_line_error

CUT = json.dumps({"calls": [{"node": "refine_directref", "finish_reason": "length", "completion_tokens": 512}]})


def mixed_store(path: Path, copies: int = 12) -> Path:
    """`copies` rounds of the defect rows (repetition, prompt echo, near duplicates, HealthBench overlap),
    each round with its own wording, plus exact duplicates, rows the run dropped and cut-off rows."""
    rows: list[dict[str, Any]] = []
    for round_ in range(copies):
        base, _ = defect_rows()
        for row in base:
            row = dict(row, id=len(rows) + 1)
            if row["id"] % 11 != 5:  # every round's queries differ, but some repeat an earlier round exactly
                row["query"] = f"{row['query']} (round {round_}: {long_answer(str(round_), 12)[:40]})"
            if row["id"] % 13 == 0:
                row.update(kept=0, t_kept=0, filter_reason="too_short", t_filter_reason="too_short")
            rows.append(row)
    write_store(path, rows)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE results SET usage = ? WHERE id % 7 = 3", (CUT,))
    conn.execute("UPDATE teacher SET usage = ? WHERE id % 7 = 3", (json.dumps({"finish_reason": "length"}),))
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers from the first row, in chunks of 8, so a small store crosses many chunks and every worker."""
    monkeypatch.setattr(gate_workers, "INLINE_ROWS", 0)
    monkeypatch.setattr(gate_workers, "CHUNK", 8)


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("stage", ["sr", "kd"])
def test_workers_decide_exactly_as_one_process(tmp_path: Path, stage: str) -> None:
    store = mixed_store(tmp_path / "mixed.sqlite")
    outputs = {}
    for workers in (0, 2):
        out = tmp_path / f"{stage}-{workers}"
        card = build_dataset(store, stage, out, validation_fraction=0.2, gate=GateOptions(workers=workers))
        outputs[workers] = ({p.name: p.read_bytes() for p in out.glob("*.jsonl")}, card["dropped_examples"])
        assert set(card["dropped"]) >= {"repetition", "prompt_echo", "near_duplicate", "benchmark_overlap",
                                        "truncated", "duplicate", "store:too_short"}, card["dropped"]
    assert outputs[2] == outputs[0]


@pytest.mark.usefixtures("small_chunks")
def test_the_workers_run_while_the_stream_does_and_stop_with_it(tmp_path: Path) -> None:
    store = mixed_store(tmp_path / "mixed.sqlite", copies=3)
    judge = StoreGate(GateOptions()).row_judge()
    conn = open_store(store)
    try:
        stream = gate_workers.judged(iter_stage_rows(conn, "sr"), judge, workers=2)
        chunk, first = next(stream)
        assert len(multiprocessing.active_children()) == 2
        assert len(first.paper) == sum(row.kept for row in chunk)
        stream.close()  # a consumer that stops early (an error while writing, Ctrl-C)
        assert multiprocessing.active_children() == []
        judged = list(gate_workers.judged(iter_stage_rows(conn, "sr"), judge, workers=2))
        assert sum(len(chunk) for chunk, _ in judged) == conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        assert multiprocessing.active_children() == []
    finally:
        conn.close()


@pytest.mark.usefixtures("small_chunks")
def test_with_another_thread_running_rows_are_judged_in_process(tmp_path: Path) -> None:
    """A fork could catch another thread holding a lock: then no worker is started."""
    store = mixed_store(tmp_path / "mixed.sqlite", copies=2)
    judge, stop = StoreGate(GateOptions()).row_judge(), threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    conn = open_store(store)
    try:
        stream = gate_workers.judged(iter_stage_rows(conn, "sr"), judge, workers=2)
        next(stream)
        assert multiprocessing.active_children() == []
        assert sum(1 for _ in stream) > 0
    finally:
        stop.set()
        other.join()
        conn.close()


class Failing:
    """A judge that fails in a worker process (and only there)."""

    def __init__(self, judge: Any, builder: int) -> None:
        self.judge, self.builder = judge, builder

    def __call__(self, texts: Any) -> Any:
        if os.getpid() != self.builder:
            raise MemoryError("a worker ran out of memory")
        return self.judge(texts)


@pytest.mark.usefixtures("small_chunks")
def test_a_worker_that_fails_stops_the_build_with_a_clear_error(tmp_path: Path) -> None:
    store = mixed_store(tmp_path / "mixed.sqlite", copies=2)
    judge = Failing(StoreGate(GateOptions()).row_judge(), os.getpid())
    conn = open_store(store)
    try:
        with pytest.raises(RuntimeError, match=r"a gate worker stopped \(exit code 1\) — rerun with --gate-workers 0"):
            list(gate_workers.judged(iter_stage_rows(conn, "sr"), judge, workers=2))  # type: ignore[arg-type]
        assert multiprocessing.active_children() == []
    finally:
        conn.close()


def test_a_bad_worker_count_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    for bad in (-1, gate_workers.MAX_WORKERS + 1):
        with pytest.raises(InputError, match="--gate-workers must be between 0 and"):
            GateOptions(workers=bad).check()
    store = mixed_store(tmp_path / "mixed.sqlite", copies=1)
    for command, out in (("training.data", tmp_path / "ds"), ("graph.export", tmp_path / "sr.jsonl")):
        flag = "--stage" if command == "training.data" else "--what"
        proc = cli(command, "--db", str(store), flag, "sr", "--out", str(out), "--gate-workers", "-2")
        one_line_error(proc, "--gate-workers")
        assert not out.exists()


KILLED_BUILDER = """
import sys, time
from training.dataset import workers
from training.dataset.gate import GateOptions, StoreGate
from training.dataset.store import iter_stage_rows, open_store
workers.INLINE_ROWS, workers.CHUNK = 0, 4
stream = workers.judged(iter_stage_rows(open_store(sys.argv[1]), "sr"), StoreGate(GateOptions()).row_judge(), 2)
next(stream)
import multiprocessing
print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
time.sleep(600)
"""


def running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc; the parent-death signal is Linux's")
def test_workers_end_when_the_builder_is_killed_outright(tmp_path: Path) -> None:
    """SIGKILL gives the builder no chance to stop its pool: the workers must not linger as orphans."""
    store = mixed_store(tmp_path / "mixed.sqlite", copies=2)
    root = Path(__file__).resolve().parents[2]
    builder = subprocess.Popen([sys.executable, "-c", KILLED_BUILDER, str(store)], cwd=root, stdout=subprocess.PIPE,
                               text=True)
    assert builder.stdout is not None
    pids = [int(p) for p in builder.stdout.readline().split()]
    assert len(pids) == 2 and all(running(pid) for pid in pids)
    os.kill(builder.pid, signal.SIGKILL)
    builder.wait()
    deadline = time.monotonic() + 30
    while any(running(pid) for pid in pids):
        assert time.monotonic() < deadline, f"workers {pids} outlived their builder"
        time.sleep(0.2)
