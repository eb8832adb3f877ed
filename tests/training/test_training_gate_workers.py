"""The gate's worker processes: a build judged in forked workers is byte-for-byte the build judged in one
process, on a real store mixing every defect; workers stop with the stream, with the builder and on error;
bad counts are refused.

The gate never forks beside a running thread, and pytest's own process may hold threads (the servers of
other tests), so every case that needs workers runs in a fresh interpreter (`in_fresh_process`)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from procfs import alive
from test_training_gate import defect_rows
from training_store import long_answer, write_store

from state.errors import InputError
from training.dataset.gate import GateOptions
from training.dataset.workers import MAX_WORKERS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "graph"))
from storekit import cli, one_line_error

ROOT = Path(__file__).resolve().parents[2]
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


PRELUDE = """
import json, multiprocessing, os, sys, threading
from pathlib import Path
from training.dataset import workers as gate_workers
from training.dataset.gate import GateOptions, StoreGate
from training.dataset.store import iter_stage_rows, open_store
gate_workers.INLINE_ROWS, gate_workers.CHUNK = 0, 8  # workers from the first row, many chunks for each
store = sys.argv[1]
"""


def in_fresh_process(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run PRELUDE then `code` in a new interpreter (argv: the store, then `args`); it must exit 0."""
    proc = subprocess.run([sys.executable, "-c", PRELUDE + code, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


BOTH_WAYS = """
from training.data import build_dataset
pools, started = [], gate_workers._in_workers
def counted(*args):
    pools.append(1)
    yield from started(*args)
gate_workers._in_workers = counted
stage, out = sys.argv[2], Path(sys.argv[3])
for n in (0, 2):
    card = build_dataset(store, stage, out / str(n), validation_fraction=0.2, gate=GateOptions(workers=n))
    print(json.dumps({"workers": n, "pools": len(pools), "dropped": card["dropped"],
                      "examples": card["dropped_examples"]}))
"""


@pytest.mark.parametrize("stage", ["sr", "kd"])
def test_workers_decide_exactly_as_one_process(tmp_path: Path, stage: str) -> None:
    store = mixed_store(tmp_path / "mixed.sqlite")
    lines = in_fresh_process(BOTH_WAYS, str(store), stage, str(tmp_path)).stdout.splitlines()
    alone, split = (json.loads(line) for line in lines)
    assert (alone["pools"], split["pools"]) == (0, 1)  # the second build did use workers
    assert set(alone["dropped"]) >= {"repetition", "prompt_echo", "near_duplicate", "benchmark_overlap",
                                     "truncated", "duplicate", "store:too_short"}, alone["dropped"]
    assert (split["dropped"], split["examples"]) == (alone["dropped"], alone["examples"])
    files = {n: {p.name: p.read_bytes() for p in (tmp_path / n).glob("*.jsonl")} for n in ("0", "2")}
    assert files["2"] == files["0"] and set(files["0"]) == {"train.jsonl", "validation.jsonl"}


STOPPED_EARLY = """
judge, conn = StoreGate.for_store(store, GateOptions()).row_judge(), open_store(store)
stream = gate_workers.judged(iter_stage_rows(conn, "sr"), judge, workers=2)
chunk, first = next(stream)
assert len(multiprocessing.active_children()) == 2, multiprocessing.active_children()
assert len(first.before) == sum(row.kept for row in chunk)
stream.close()  # a consumer that stops early (an error while writing, Ctrl-C)
assert multiprocessing.active_children() == [], multiprocessing.active_children()
judged = list(gate_workers.judged(iter_stage_rows(conn, "sr"), judge, workers=2))
assert sum(len(c) for c, _ in judged) == conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
assert multiprocessing.active_children() == []
"""


def test_the_workers_run_while_the_stream_does_and_stop_with_it(tmp_path: Path) -> None:
    in_fresh_process(STOPPED_EARLY, str(mixed_store(tmp_path / "mixed.sqlite", copies=3)))


BESIDE_A_THREAD = """
stop = threading.Event()
other = threading.Thread(target=stop.wait)
other.start()
stream = gate_workers.judged(iter_stage_rows(open_store(store), "sr"), StoreGate.for_store(store, GateOptions()).row_judge(), 2)
next(stream)
assert multiprocessing.active_children() == []  # judged in this process
assert sum(1 for _ in stream) > 0
stop.set()
other.join()
"""


def test_with_another_thread_running_rows_are_judged_in_process(tmp_path: Path) -> None:
    """A fork could catch another thread holding a lock: then no worker is started."""
    in_fresh_process(BESIDE_A_THREAD, str(mixed_store(tmp_path / "mixed.sqlite", copies=2)))


SIGNALLED_WORKERS = """
import signal, time
heard = []
signal.signal(signal.SIGTERM, lambda *_: heard.append(os.getpid()))  # as graph.export's handler would be
judge = StoreGate.for_store(store, GateOptions()).row_judge()
for sig in (signal.SIGINT, signal.SIGTERM):
    stream = gate_workers.judged(iter_stage_rows(open_store(store), "sr"), judge, 2)
    next(stream), next(stream)  # a result from each worker: both have set their handlers
    workers = multiprocessing.active_children()
    assert len(workers) == 2
    for worker in workers:
        os.kill(worker.pid, sig)
    if sig == signal.SIGINT:  # Ctrl-C reaches the whole group; it is the builder's to handle
        time.sleep(0.5)
        assert all(worker.is_alive() for worker in workers)
        assert sum(1 for _ in stream) > 0  # and the build goes on
    else:  # SIGTERM ends a worker at once, whatever handler the builder had
        for worker in workers:
            worker.join(20)
        assert [worker.exitcode for worker in workers] == [-signal.SIGTERM] * 2, [w.exitcode for w in workers]
        try:
            list(stream)
        except RuntimeError as exc:
            print(exc)
assert heard == [], heard
assert multiprocessing.active_children() == []
"""


def test_workers_ignore_ctrl_c_and_end_on_sigterm(tmp_path: Path) -> None:
    proc = in_fresh_process(SIGNALLED_WORKERS, str(mixed_store(tmp_path / "mixed.sqlite")))
    assert proc.stdout.strip() == ("a gate worker stopped (exit code -15) — rerun with --gate-workers 0 to see the "
                                   "error in the builder's own process")


FAILING_WORKER = """
class Failing:
    def __init__(self, judge, builder):
        self.judge, self.builder = judge, builder

    def __call__(self, texts):
        if os.getpid() != self.builder:
            raise MemoryError("a worker ran out of memory")
        return self.judge(texts)

try:
    list(gate_workers.judged(iter_stage_rows(open_store(store), "sr"),
                             Failing(StoreGate.for_store(store, GateOptions()).row_judge(), os.getpid()), 2))
except RuntimeError as exc:
    print(exc)
assert multiprocessing.active_children() == []
"""


def test_a_worker_that_fails_stops_the_build_with_a_clear_error(tmp_path: Path) -> None:
    proc = in_fresh_process(FAILING_WORKER, str(mixed_store(tmp_path / "mixed.sqlite", copies=2)))
    assert proc.stdout.strip() == ("a gate worker stopped (exit code 1) — rerun with --gate-workers 0 to see the "
                                   "error in the builder's own process")
    assert "MemoryError: a worker ran out of memory" in proc.stderr  # the worker's own traceback


def test_a_bad_worker_count_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    for bad in (-1, MAX_WORKERS + 1):
        with pytest.raises(InputError, match="--gate-workers must be between 0 and"):
            GateOptions(workers=bad).check()
    store = mixed_store(tmp_path / "mixed.sqlite", copies=1)
    for command, out in (("training.data", tmp_path / "ds"), ("graph.export", tmp_path / "sr.jsonl")):
        flag = "--stage" if command == "training.data" else "--what"
        proc = cli(command, "--db", str(store), flag, "sr", "--out", str(out), "--gate-workers", "-2")
        one_line_error(proc, "--gate-workers")
        assert not out.exists()


KILLED_BUILDER = """
import time
stream = gate_workers.judged(iter_stage_rows(open_store(store), "sr"), StoreGate.for_store(store, GateOptions()).row_judge(), 2)
next(stream)
print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_workers_end_when_the_builder_is_killed_outright(tmp_path: Path) -> None:
    """SIGKILL gives the builder no chance to stop its workers: they must not linger as orphans."""
    store = mixed_store(tmp_path / "mixed.sqlite", copies=2)
    builder = subprocess.Popen([sys.executable, "-c", PRELUDE + KILLED_BUILDER, str(store)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    assert builder.stdout is not None
    pids = [int(p) for p in builder.stdout.readline().split()]
    assert len(pids) == 2 and all(alive(pid) for pid in pids)
    os.kill(builder.pid, signal.SIGKILL)
    builder.wait()
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f"workers {pids} outlived their builder"
        time.sleep(0.2)
