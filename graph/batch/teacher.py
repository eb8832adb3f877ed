"""The teacher stage: one teacher answers every stored query it has not answered yet, on any store.

It reads `queries` and writes only `teacher` rows tagged with the teacher's name (its served model) and
one `teachers` row (model, URLs, sampling), so results, failures and other teachers' answers are never
touched. A teacher call that fails leaves its id unanswered: the next run of the stage asks again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.batch.engine import FLUSH_EVERY_S, Stats
from graph.batch.progress import Progress
from graph.batch.rows import teacher_row
from graph.batch.workers import run_engine
from graph.store.db import Store
from graph.store.owner import owned
from graph.store.preflight import check_integrity
from graph.store.teachers import record_teacher, unanswered
from nodes.filter import run_settings
from nodes.llm.client import ChatClient, EndpointsDown, LLMError, labelled
from nodes.llm.factory import make_client
from state.config import RunConfig


def wants_teacher_stage(stored: dict[str, Any] | None, teacher_urls: list[str] | None, teacher_model: str | None) -> bool:
    """A store that holds a run, given a teacher the run was not configured with (none, or another model)."""
    if stored is None or not teacher_urls:
        return False
    configured = stored["config"].get("teacher")
    return configured is None or bool(teacher_model and teacher_model != configured.get("model"))


async def discover(config: RunConfig) -> str:
    """The teacher's name: its served model (asked of the server, which also checks that it answers)."""
    assert config.teacher is not None
    client = make_client(config, config.teacher, concurrency=1)
    try:
        return await client.model_name()
    finally:
        await client.aclose()


def run_teacher_stage(db: Path, config: RunConfig, concurrency: int, log: Callable[[str], None]) -> Stats:
    """Lock the store, answer its unanswered queries with the configured teacher, and say what was stored."""
    with owned(db, "graph.run"):
        store = Store.open(db)
        try:
            check_integrity(store)
            name = asyncio.run(discover(config))
            total = store.count("queries", "WHERE coalesce(query, '') != ''")
            todo = sum(1 for _ in unanswered(store, name))
        finally:
            store.conn.close()
        log(f"teacher stage: {name} answers {todo} of the {total} stored queries in {db} (nothing else is changed)")
        with Progress(total, total - todo) as progress:
            stats = run_engine(TeacherStage(db, config, concurrency, on_stats=progress.update))  # type: ignore[arg-type]
            progress.update(stats, force=True)
    store = Store.open(db)
    answered = store.count("teacher", f"WHERE teacher = {sql_text(name)}")
    store.conn.close()
    log(f"stored: {answered} answers from teacher {name} in {db}; {stats.failed} calls failed this session "
        f"(run the same command to ask again). KD data: python -m training.data --db {db} --stage kd --teacher {name}")
    return stats


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class TeacherStage:
    """Runs the teacher stage on a store; `run()` returns Stats (done = answered, kept/dropped by the filter)."""

    db: Path
    config: RunConfig
    concurrency: int = 256
    on_stats: Callable[[Stats], None] | None = None
    stats: Stats = field(default_factory=Stats)
    name: str = ""

    async def run(self) -> Stats:
        assert self.config.teacher is not None
        store = Store.open(self.db)
        client = make_client(self.config, self.config.teacher, self.concurrency)
        stop: list[str] = []
        try:
            self.name = await client.model_name()
            record_teacher(store, self.name, self.config)
            ticker = asyncio.create_task(self._ticker(store))
            try:
                await self._loop(store, client, stop)
            finally:
                ticker.cancel()
                store.flush()
        finally:
            store.close()
            await client.aclose()
        self.stats.stopped = stop[0] if stop else None
        self.stats.finished = not stop
        self._report()
        return self.stats

    async def _loop(self, store: Store, client: ChatClient, stop: list[str]) -> None:
        slots = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        sampling = self.config.sampling_for("teacher")

        async def answer(item_id: int, query: str) -> None:
            try:
                completion = await labelled("teacher", client.chat([{"role": "user", "content": query}], sampling))
            except EndpointsDown as exc:
                stop.append(str(exc))
                return
            except LLMError:
                self.stats.failed += 1
            else:
                verdict_row = teacher_row(item_id, self.name, completion, run_settings(self.config), query)
                store.add("teacher", verdict_row)
                self.stats.kept += verdict_row[4]
                self.stats.dropped += 1 - verdict_row[4]
            finally:
                self.stats.done += 1
                self.stats.in_flight -= 1
                slots.release()

        try:
            for item_id, query in unanswered(store, self.name):
                await slots.acquire()
                if stop:
                    slots.release()
                    break
                self.stats.in_flight += 1
                task = asyncio.create_task(answer(item_id, query))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.wait(set(tasks))
        finally:
            for task in list(tasks):
                task.cancel()
            if tasks:
                await asyncio.wait(set(tasks))

    async def _ticker(self, store: Store) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            store.flush()
            self._report()

    def _report(self) -> None:
        if self.on_stats is not None:
            self.on_stats(self.stats)
