"""Live progress for an evaluation (rich, CLI layer only): responses and rubric grades, with failures.

On a terminal, two bars; otherwise a timestamped plain line every LOG_EVERY_S seconds and one at the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from eval.batch.runner import Events
from graph.batch.rates import Smoothed, duration, eta, per_time

LOG_EVERY_S = 10.0


class PlainLines:
    """Counts and prints "<UTC time> [eval] responses a/b … grades c/d … rate … eta … elapsed …" lines."""

    def __init__(self, console: Console, n_examples: int, n_items: int) -> None:
        self.console, self.totals = console, {"responses": n_examples, "grades": n_items}
        self.done = {"responses": 0, "grades": 0}
        self.failed = {"responses": 0, "grades": 0}
        self.t0 = self.last = time.monotonic()
        self.rate = Smoothed(self.t0)

    def tick(self, kind: str, ok: bool) -> None:
        self.done[kind] += 1
        self.failed[kind] += 0 if ok else 1
        now = time.monotonic()
        self.rate.add(now, self.done["grades"])
        if now - self.last >= LOG_EVERY_S:
            self.line()

    def line(self) -> None:
        now = time.monotonic()
        self.last = now
        per_s = self.rate.rate(now, self.done["grades"])
        parts = [f"{k} {self.done[k]}/{self.totals[k]} ({self.failed[k]} failed)" for k in ("responses", "grades")]
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.console.print(f"{stamp} [eval] {' '.join(parts)} rate {per_time(per_s, 'grades')} eta "
                           f"{duration(eta(self.totals['grades'] - self.done['grades'], per_s))} "
                           f"elapsed {duration(now - self.t0)}", markup=False, highlight=False)


@contextmanager
def live_progress(console: Console, n_examples: int, n_items: int) -> Iterator[Events]:
    """Two bars (responses, grades) whose failure counts update as the runner reports them; plain
    timestamped lines instead when the console is not a terminal."""
    if not console.is_terminal:
        plain = PlainLines(console, n_examples, n_items)
        yield Events(response=lambda ok: plain.tick("responses", ok), grade=lambda ok: plain.tick("grades", ok))
        plain.line()
        return
    progress = Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        refresh_per_second=4,
    )
    responses = progress.add_task("responses", total=n_examples, failed=0)
    grades = progress.add_task("grades", total=n_items, failed=0)
    failed = {responses: 0, grades: 0}

    def tick(task: TaskID, ok: bool) -> None:
        if not ok:
            failed[task] += 1
        progress.update(task, advance=1, failed=failed[task])

    with progress:
        yield Events(response=lambda ok: tick(responses, ok), grade=lambda ok: tick(grades, ok))
