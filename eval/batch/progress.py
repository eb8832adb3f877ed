"""Live progress for an evaluation (rich, CLI layer only): responses and rubric grades, with failures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def live_progress(console: Console, n_examples: int, n_items: int) -> Iterator[Events]:
    """Two bars (responses, grades) whose failure counts update as the runner reports them."""
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
