"""Live progress for graph.run: a rich view on a terminal, periodic plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from graph.batch.engine import Stats


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
        total.stopped = total.stopped or s.stopped
    return total


def _eta(seconds: float) -> str:
    if seconds == float("inf") or seconds != seconds:
        return "–"
    h, rem = divmod(int(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


class Progress:
    """Feed it combined Stats with update(); renders at most a few times a second."""

    def __init__(self, total: int, already: int, console: Console | None = None, log_every_s: float = 10.0) -> None:
        self.total, self.already = total, already
        self.console = console or Console(stderr=True)
        self.tty = self.console.is_terminal and sys.stderr.isatty()
        self.t0 = time.monotonic()
        self.log_every_s = log_every_s
        self._last_log = self.t0
        self._last_tokens: tuple[float, dict[str, int]] = (self.t0, {})
        self._tok_rate: dict[str, float] = {}
        self._live: Live | None = None

    def __enter__(self) -> Progress:
        if self.tty:
            self._live = Live(console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def _rates(self, stats: Stats) -> tuple[float, float]:
        elapsed = max(time.monotonic() - self.t0, 1e-6)
        rate = stats.done / elapsed
        remaining = self.total - self.already - stats.done
        return rate, (remaining / rate if rate > 0 else float("inf"))

    def _token_rates(self, stats: Stats) -> dict[str, float]:
        now = time.monotonic()
        t_prev, prev = self._last_tokens
        if now - t_prev >= 2.0:
            self._tok_rate = {u: (tok - prev.get(u, 0)) / (now - t_prev) for u, tok in stats.completion_tokens.items()}
            self._last_tokens = (now, dict(stats.completion_tokens))
        return self._tok_rate

    def view(self, stats: Stats) -> Table:
        rate, eta = self._rates(stats)
        done = self.already + stats.done
        table = Table(title="graph.run", show_header=False, show_edge=False)
        table.add_column(style="bold")
        table.add_column()
        pct = 100 * done / self.total if self.total else 100.0
        table.add_row("done", f"{done:,} / {self.total:,} ({pct:.1f}%)")
        table.add_row("rate", f"{rate:,.1f} queries/s   ETA {_eta(eta)}")
        table.add_row("in flight", f"{stats.in_flight:,}")
        table.add_row("kept / dropped / failed", f"{stats.kept:,} / {stats.dropped:,} / {stats.failed:,}")
        for url, tps in sorted(self._token_rates(stats).items()):
            table.add_row(Text(url), f"{tps:,.0f} completion tok/s")
        return table

    def update(self, stats: Stats, force: bool = False) -> None:
        if self._live is not None:
            self._live.update(self.view(stats))
            return
        now = time.monotonic()
        if force or now - self._last_log >= self.log_every_s:
            self._last_log = now
            rate, eta = self._rates(stats)
            toks = sum(self._token_rates(stats).values())
            print(f"[graph.run] done {self.already + stats.done}/{self.total} rate {rate:.1f}/s eta {_eta(eta)} "
                  f"in_flight {stats.in_flight} kept {stats.kept} dropped {stats.dropped} failed {stats.failed} "
                  f"tok/s {toks:.0f}", file=sys.stderr, flush=True)
