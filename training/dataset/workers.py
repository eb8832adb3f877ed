"""Judging a store's rows in worker processes: the gate's per-row work spread over the cores, in order.

Why processes: the gate's per-row work is CPython work (≈ 0.1 ms a row), about twice the rest of a build,
so in one process the gate costs ≈ 3× a build without it. The first `INLINE_ROWS` rows are judged in the
builder's own process, so a small build (a demo, a test) never starts a worker; past them, `workers`
forked processes judge chunks of `CHUNK` rows, handed out in turn, `AHEAD` per worker in flight.

Each worker has its own pipe and a thread that is always reading it, so the builder's sends never wait on
a worker's computing, and a worker's result waits only for the builder to take it: neither side can block
the other however large the messages. No lock is shared, so a worker stopped at any moment (Ctrl-C,
SIGTERM, an error downstream) cannot leave the builder waiting. Forked, the workers
inherit the judge, and a caller's script without a `__main__` guard is never re-imported (as spawning
would); they ignore Ctrl-C (the builder's to handle), take SIGTERM's default, and on Linux die with the
builder even when it is killed outright.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import threading
from collections import deque
from collections.abc import Iterator
from itertools import islice
from multiprocessing.connection import Connection
from typing import Any

from state.processes import cpu_threads, die_with_parent
from training.dataset.store import StageRow
from training.dataset.verdicts import RowJudge, Texts, Verdicts, kept_texts

CHUNK = 512  # rows per batch and per task: 256 and 1,024 measured slower (BENCHMARKS.md)
INLINE_ROWS = 4096  # judged in-process: workers are not worth starting for fewer
AHEAD = 2  # chunks handed to each worker before its first result is taken: it never waits for work
MAX_WORKERS = 64


def default_workers() -> int:
    """One worker per core this process may use, at most 8 (the builder's own loop is the limit past that)."""
    return min(cpu_threads(), 8)


def can_fork() -> bool:
    """Only where fork exists, and with no other thread running that a fork could catch holding a lock."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def _serve(judge: RowJudge, conn: Connection, builder_ends: list[Connection], builder: int) -> None:
    """A worker: judge each list of texts received and send the verdicts back, until None or EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the builder's handler (graph.export raises on SIGTERM)
    for end in builder_ends:
        end.close()  # only the builder holds its ends, so its death reads as EOF here
    die_with_parent(builder, signal.SIGKILL)  # nothing to clean up here
    tasks: queue.SimpleQueue[list[Texts] | None] = queue.SimpleQueue()

    def read() -> None:  # always reading, so the builder's sends never wait on this worker's computing
        try:
            while (texts := conn.recv()) is not None:
                tasks.put(texts)
        except (EOFError, OSError):
            pass  # the builder is gone
        tasks.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        while (texts := tasks.get()) is not None:
            conn.send(judge(texts))
    except OSError:
        return  # the builder is gone


def judged(
    rows: Iterator[StageRow], judge: RowJudge, workers: int = 0, inline_rows: int | None = None
) -> Iterator[tuple[list[StageRow], Verdicts]]:
    """Yield each chunk of rows with its kept rows' verdicts, in order; `workers` > 0 judges chunks past the
    first `inline_rows` (default `INLINE_ROWS`) rows in that many processes, stopped when the stream ends or
    is closed."""
    done, inline_rows = 0, INLINE_ROWS if inline_rows is None else inline_rows
    workers = workers if can_fork() else 0
    while done < inline_rows or workers < 1:
        chunk = list(islice(rows, CHUNK))
        if not chunk:
            return
        done += len(chunk)
        yield chunk, judge(kept_texts(chunk))
    chunk = list(islice(rows, CHUNK))
    if not chunk:
        return  # the store ended within the inline rows: no worker started
    yield from _in_workers(chunk, rows, judge, workers)


def _in_workers(
    chunk: list[StageRow], rows: Iterator[StageRow], judge: RowJudge, workers: int
) -> Iterator[tuple[list[StageRow], Verdicts]]:
    context: Any = multiprocessing.get_context("fork")
    pipes = [context.Pipe() for _ in range(workers)]
    ends = [end for end, _ in pipes]
    procs = [context.Process(target=_serve, args=(judge, theirs, ends, os.getpid()), daemon=True)
             for _, theirs in pipes]
    finished = False
    try:
        for proc in procs:
            proc.start()
        for _, theirs in pipes:
            theirs.close()
        busy: deque[tuple[list[StageRow], int]] = deque()
        try:
            for number in [n for _ in range(AHEAD) for n in range(workers)]:  # AHEAD chunks to each, in turn
                if not chunk:
                    break
                ends[number].send(kept_texts(chunk))
                busy.append((chunk, number))
                chunk = list(islice(rows, CHUNK))
            while busy:
                first, number = busy.popleft()
                verdicts = ends[number].recv()
                if chunk:  # read while the workers compute, handed to the worker that is now free
                    ends[number].send(kept_texts(chunk))
                    busy.append((chunk, number))
                    chunk = list(islice(rows, CHUNK))
                yield first, verdicts
        except (EOFError, ConnectionError):  # gone: EOF, a broken pipe, or a reset (died with work unread)
            procs[number].join(5)
            raise RuntimeError(
                f"a gate worker stopped (exit code {procs[number].exitcode}) — rerun with --gate-workers 0 "
                "to see the error in the builder's own process"
            ) from None
        finished = True
    finally:
        for end, proc in zip(ends, procs, strict=True):
            if finished:
                with contextlib.suppress(ConnectionError):  # a worker gone after its last result changes nothing
                    end.send(None)  # done: the worker returns
            elif proc.pid is not None:
                proc.kill()  # stopped early: nothing it computes is wanted
        for end, proc in zip(ends, procs, strict=True):
            if proc.pid is not None:
                proc.join()
            end.close()
