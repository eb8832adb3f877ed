"""Running engines until done or signalled: in this process, or in W spawned workers that stop together.

SIGINT and SIGTERM cancel an engine cleanly: no new ids, in-flight ids are dropped (redone on resume),
finished ones are flushed; a second signal stops at once. With workers, only the parent reacts to signals (a terminal's Ctrl-C reaches
the whole group): it sends SIGTERM to every worker and waits for them, so the store's lock is held
until the last one is gone. Workers are started one at a time with signals blocked (no half-started child is
interrupted); a signal that arrives meanwhile stops the spawning at once. A worker stops when the parent
dies, silently: until its own code runs, its stderr is /dev/null (a child whose parent died mid-launch
would otherwise print multiprocessing's EOFError traceback), and the worker then restores the real one.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import queue
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graph.batch.engine import Engine, Slice, Stats
from graph.batch.progress import combine
from graph.store.owner import Inherited
from state.config import RunConfig
from state.processes import die_with_parent

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE_S = 20.0  # a signalled worker normally exits within a second; after this it is killed


def run_engine(engine: Engine, signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> Stats:
    """engine.run() in a fresh event loop; one of `signals` cancels it and sets stats.stopped."""

    async def guarded() -> Stats:
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        got: list[signal.Signals] = []

        def on_signal(sig: signal.Signals) -> None:
            if got:  # a second signal: leave now; SQLite transactions keep the store whole, as after kill -9
                os._exit(128 + sig)
            got.append(sig)
            if task is not None:
                task.cancel()

        for sig in signals:
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            return await engine.run()
        except asyncio.CancelledError:
            if not got:
                raise
            engine.stats.stopped = f"interrupted by {got[0].name}"
            return engine.stats
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    return asyncio.run(guarded())


def worker_count(requested: int, pending: int, log: Callable[[str], None]) -> int:
    """Workers to start: never more than the ids left to run; above the CPU count it still starts them, with
    a warning (each worker is a full Python process of about 130 MB)."""
    count = max(1, min(requested, pending))
    if count < requested:
        log(f"--workers {requested} lowered to {count}: only {pending} ids are left to run")
    cpus = os.cpu_count() or 1
    if count > cpus:
        log(f"warning: --workers {count} is more than the {cpus} CPUs here; workers past the CPU count add "
            "memory, not speed")
    return count


class _Fd:
    """An fd handed to a spawned worker (duplicated into it at launch)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, ...]:
        from multiprocessing.reduction import DupFd

        return (_detach, (DupFd(self.fd),))


def _detach(dup: Any) -> int:
    return int(dup.detach())


def _worker(db: str, config_json: str, seed: int, part: Slice, concurrency: int, retry: bool,
            index: int, out: Any, lock: int, parent: int, stderr: int) -> None:
    """One worker process: runs its slice, streams Stats to the parent; `lock` keeps the store owned."""
    os.dup2(stderr, 2)
    os.close(stderr)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # before the engine starts, nothing to save
    die_with_parent(parent)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    engine = Engine(Path(db), RunConfig.model_validate_json(config_json), seed, part, concurrency, retry,
                    on_stats=lambda s: out.put((index, s)))
    try:
        stats = run_engine(engine, (signal.SIGTERM,))
    except Exception as exc:  # reported by the parent as the run's stop reason, never a child traceback
        stats = engine.stats
        stats.stopped = f"worker {index} failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the final stats must reach the parent
    out.put((index, stats))  # `lock` (an fd) stays open, and the store owned, until this process exits


def _start(procs: list[Any], got: list[int], quiet: int, stderr: int) -> list[Any]:
    """Start the workers one by one until a signal arrives; returns the started ones."""
    started = []
    try:
        for p in procs:
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # children inherit the mask: no start-up traceback
            os.dup2(quiet, 2)  # ... and /dev/null as stderr until _worker runs
            try:
                p.start()
            finally:
                os.dup2(stderr, 2)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # a pending signal is handled here
            started.append(p)
            if got:
                break
    finally:
        os.close(quiet)
        os.close(stderr)
    return started


def run_workers(db: Path, config: RunConfig, seed: int, parts: list[Slice], concurrency: int, retry: bool,
                lock_fd: int, on_stats: Callable[[Stats], None]) -> Stats:
    """Run one spawned worker per slice; SIGINT/SIGTERM here stops them all. Returns the combined Stats."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    stderr, quiet = os.dup(2), os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    procs = [ctx.Process(target=_worker, args=(str(db), config.model_dump_json(), seed, part, concurrency, retry,
                                               w, out, Inherited(lock_fd), os.getpid(), _Fd(stderr)))
             for w, part in enumerate(parts)]
    got: list[int] = []
    previous = {sig: signal.signal(sig, lambda s, _f: got.append(s)) for sig in STOP_SIGNALS}
    latest: dict[int, Stats] = {}
    try:
        procs = _start(procs, got, quiet, stderr)
        deadline: float | None = None
        while any(p.is_alive() for p in procs) or not out.empty():
            if got and deadline is None:
                deadline = time.monotonic() + GRACE_S
                for p in procs:
                    if p.is_alive():
                        p.terminate()
            if deadline is not None and (time.monotonic() > deadline or len(got) > 1):
                for p in procs:
                    if p.is_alive():
                        p.kill()
            try:
                w, stats = out.get(timeout=0.2)
            except queue.Empty:
                continue
            latest[w] = stats
            on_stats(combine(latest.values()))
        for p in procs:
            p.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    final = combine(latest.values())
    if got:
        final.stopped = f"interrupted by {signal.Signals(got[0]).name}"
    elif not final.stopped and any(p.exitcode for p in procs):
        final.stopped = "a worker exited unexpectedly (exit codes " + ", ".join(str(p.exitcode) for p in procs) + ")"
    return final
