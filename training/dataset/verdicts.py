"""What a row's own text decides, judged a chunk at a time, in worker processes for a large store.

Everything here depends on one row alone: the paper's filters, the repetition and prompt-echo rules, the
exact-duplicate key, HealthBench overlap and the query's MinHash signature. What depends on earlier rows
(is the key or a near copy already kept?) and the `truncated` rule (it reads the calls, which are not worth
sending) stay in the builder's process, in id order (`training.dataset.records`), so a build decides the
same with or without workers.

Why processes: the gate's per-row work is CPython work (≈ 0.1 ms a row), several times the rest of a build,
and one core would leave the gate at ≈ 4× a build without it. The first `INLINE_ROWS` rows are judged in
the builder's own process, so a small build (a demo, a test) never starts a worker; past them, a forked
pool of `workers` processes judges chunks of `CHUNK` rows, at most `AHEAD` chunks per worker in flight, so
memory stays bounded however large the store.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from itertools import islice
from typing import Any

import numpy as np

from nodes.gate.echo import EchoIndex, prompt_echo
from nodes.gate.repetition import repetition
from training.dataset.decontam import Decontaminator
from training.dataset.filters import dedup_key, drop_reason, split_think
from training.dataset.neardup import Signer
from training.dataset.store import StageRow

CHUNK = 512  # rows per batch (and per task sent to a worker): 256 and 1,024 were slower
INLINE_ROWS = 4096  # judged in-process before a pool is worth its start-up (≈ 1 s)
AHEAD = 3  # chunks in flight per worker
MAX_WORKERS = 64

Texts = tuple[str, str, str]  # a kept row's query, stored reasoning and stored answer


@dataclass
class Verdicts:
    """One chunk's per-row results, in the order of the texts judged (kept rows only)."""

    paper: list[str | None]  # the paper's filters (`filters.drop_reason`); None: passed
    rule: list[str | None]  # repetition or prompt_echo, for rows the paper's filters passed
    keys: list[bytes]  # exact-duplicate keys
    contaminated: list[bool]
    band_keys: np.ndarray  # per row, one uint64 key per LSH band (no columns when near-dedup is off)
    lows: np.ndarray  # per row, the signature's low bytes (arrays: a list of ints costs 5x more to send)

    @cached_property
    def band_key_lists(self) -> list[list[int]]:
        """`band_keys` as Python ints, the band index's dict keys (converted once per chunk)."""
        return self.band_keys.tolist()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class RowJudge:
    """The per-row steps of one build, picklable so worker processes can hold a copy."""

    rules: bool
    echo: EchoIndex
    bench: Decontaminator | None
    signer: Signer | None

    def __call__(self, texts: list[Texts]) -> Verdicts:
        paper: list[str | None] = []
        rule: list[str | None] = []
        keys: list[bytes] = []
        contaminated: list[bool] = []
        for query, stored_reasoning, stored_answer in texts:
            reasoning, answer = split_think(stored_reasoning, stored_answer)
            paper.append(drop_reason(query, reasoning, answer))
            passed = paper[-1] is None
            rule.append(
                repetition(answer) or prompt_echo(self.echo, query, reasoning, answer) if passed and self.rules else None
            )
            keys.append(dedup_key(query, answer))
            contaminated.append(passed and self.bench is not None and self.bench.contaminated(query))
        if self.signer is None:
            none = np.empty((len(texts), 0), dtype=np.uint8)
            return Verdicts(paper, rule, keys, contaminated, none, none)
        band_keys, lows = self.signer.sign([t[0] for t in texts])
        return Verdicts(paper, rule, keys, contaminated, band_keys, lows)


def default_workers() -> int:
    """One worker per core this process may use, at most 8 (the builder's own loop is the limit past that)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(cores, 8)


_installed: RowJudge | None = None
_parent = os.getpid()  # in a worker: the builder's pid, as it was when the worker was forked
PR_SET_PDEATHSIG = 1


def _install(judge: RowJudge) -> None:
    global _installed
    _installed = judge
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the builder's to handle: it stops the pool
    if sys.platform == "linux":  # a builder killed outright (SIGKILL) takes its workers with it
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != _parent:
            os._exit(1)  # the builder died before the line above took effect


def can_fork() -> bool:
    """Workers are forked (they inherit the judge, and a caller's unguarded script is never re-imported, as
    spawning would); only where fork exists and no other thread runs that a fork could catch holding a lock."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def _judge_in_worker(texts: list[Texts]) -> Verdicts:
    assert _installed is not None, "worker started without a judge"
    return _installed(texts)


def kept_texts(chunk: list[StageRow]) -> list[Texts]:
    return [(row.query, row.reasoning, row.answer) for row in chunk if row.kept]


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
        return  # the store ended within the inline rows: no pool started
    global _parent
    _parent = os.getpid()
    pool: Any = multiprocessing.get_context("fork").Pool(workers, initializer=_install, initargs=(judge,))
    try:
        pending: deque[tuple[list[StageRow], Any]] = deque()
        while chunk:
            pending.append((chunk, pool.apply_async(_judge_in_worker, (kept_texts(chunk),))))
            chunk = list(islice(rows, CHUNK))
            if len(pending) >= AHEAD * workers:
                first, result = pending.popleft()
                yield first, result.get()
        while pending:
            first, result = pending.popleft()
            yield first, result.get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()
