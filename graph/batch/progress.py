"""Live progress for graph.run: a rich view on a terminal, periodic timestamped plain lines otherwise.

Rates and the ETA come from time-smoothed averages (graph.batch.rates), so a steady run shows a steady
ETA; a rate under one per second reads per minute. The run ends with summary_line().
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from graph.batch.engine import Stats
from graph.batch.rates import Smoothed, duration, eta, per_time

TOKEN_SAMPLE_S = 2.0


def combine(parts: Iterable[Stats]) -> Stats:
    """Sum worker stats into one."""
    total = Stats()
    for s in parts:
        total.done += s.done
        total.kept += s.kept
        total.dropped += s.dropped
        total.failed += s.failed
        total.in_flight += s.in_flight
        for url, tok in s.completion_tokens.items():
            total.completion_tokens[url] = total.completion_tokens.get(url, 0) + tok
        for stage, k in s.in_flight_calls.items():
            total.in_flight_calls[stage] = total.in_flight_calls.get(stage, 0) + k
        total.stopped = total.stopped or s.stopped
    return total


def stamp() -> str:
    """UTC time of day for plain lines, e.g. 2026-01-05T14:03:11Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def calls_text(calls: dict[str, int], plain: bool = False) -> str:
    """In-flight LLM calls by stage: "generate 12, eval_safety 3" (plain: "generate:12,eval_safety:3"), or "none"."""
    sep, join = (":", ",") if plain else (" ", ", ")
    return join.join(f"{stage}{sep}{k}" for stage, k in sorted(calls.items()) if k > 0) or "none"


def summary_line(stats: Stats, elapsed_s: float, results: int, failures: int, db: object) -> str:
    """The run's last line: what is stored, this session's elapsed time, throughput and outcome, what next
    (the training data when this session kept records, else the report that says why not)."""
    rate = per_time(stats.done / elapsed_s if elapsed_s > 0 else 0.0, "ids")
    report = f"python -m graph.report --db {db}"
    after = (f"python -m training.data --db {db} --stage sr --out data/{Path(str(db)).stem}-sr (or {report})"
             if stats.kept else report)
    return (f"stored: {results} results and {failures} failures in {db}; this session {stats.done} ids in "
            f"{duration(elapsed_s)} ({rate}): {stats.kept} kept, {stats.dropped} dropped, {stats.failed} failed. "
            f"Next: {after}")


class Progress:
    """Feed it combined Stats with update(); renders at most a few times a second."""

    def __init__(self, total: int, already: int, console: Console | None = None, log_every_s: float = 10.0) -> None:
        self.total, self.already = total, already
        self.console = console or Console(stderr=True)
        self.tty = self.console.is_terminal and sys.stderr.isatty()
        self.t0 = time.monotonic()
        self.log_every_s = log_every_s
        self._last_log = self.t0
        self._done = Smoothed(self.t0)
        self._tokens: dict[str, Smoothed] = {}
        self._last_tokens = self.t0
        self._live: Live | None = None

    def __enter__(self) -> Progress:
        if self.tty:
            self._live = Live(console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.t0

    def _sample(self, stats: Stats) -> tuple[float, float, dict[str, float]]:
        """(ids per second, seconds left, completion tokens per second by endpoint), all smoothed."""
        now = time.monotonic()
        self._done.add(now, stats.done)
        rate = self._done.rate(now, stats.done)
        if now - self._last_tokens >= TOKEN_SAMPLE_S:
            self._last_tokens = now
            for url, tok in stats.completion_tokens.items():
                self._tokens.setdefault(url, Smoothed(self.t0)).add(now, tok)
        tokens = {url: s.rate(now, stats.completion_tokens.get(url, 0)) for url, s in self._tokens.items()}
        return rate, eta(self.total - self.already - stats.done, rate), tokens

    def view(self, stats: Stats) -> Table:
        rate, left, tokens = self._sample(stats)
        done = self.already + stats.done
        table = Table(title="graph.run", show_header=False, show_edge=False)
        table.add_column(style="bold")
        table.add_column()
        pct = 100 * done / self.total if self.total else 100.0
        table.add_row("done", f"{done:,} / {self.total:,} ({pct:.1f}%)")
        table.add_row("rate", f"{per_time(rate, 'ids')}   ETA {duration(left)}   elapsed {duration(self.elapsed_s)}")
        table.add_row("in flight", f"{stats.in_flight:,} ids; LLM calls: {calls_text(stats.in_flight_calls)}")
        table.add_row("kept / dropped / failed", f"{stats.kept:,} / {stats.dropped:,} / {stats.failed:,}")
        for url, tps in sorted(tokens.items()):
            table.add_row(Text(url), f"{tps:,.0f} completion tok/s")
        return table

    def update(self, stats: Stats, force: bool = False) -> None:
        if self._live is not None:
            self._live.update(self.view(stats))
            return
        rate, left, tokens = self._sample(stats)
        now = time.monotonic()
        if force or now - self._last_log >= self.log_every_s:
            self._last_log = now
            toks = " ".join(f"{url} {tps:.0f}" for url, tps in sorted(tokens.items())) or "-"
            print(f"{stamp()} [graph.run] done {self.already + stats.done}/{self.total} rate {per_time(rate)} "
                  f"eta {duration(left)} elapsed {duration(self.elapsed_s)} in_flight {stats.in_flight} "
                  f"calls {calls_text(stats.in_flight_calls, plain=True)} "
                  f"kept {stats.kept} dropped {stats.dropped} failed {stats.failed} tok/s {toks}",
                  file=sys.stderr, flush=True)
