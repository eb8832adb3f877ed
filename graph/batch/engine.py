"""The batch engine: stream ids → attributes → query → graph (+ teacher) → store, bounded in flight.

One Engine runs in one process on one slice of the ids (start + k·stride). Several processes may
share a store (WAL, short write transactions); progress leaves through `on_stats`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.batch.rows import result_row, teacher_row
from graph.build import build_graph
from graph.store.db import Store
from graph.store.teachers import record_teacher
from nodes.context import call_record
from nodes.filter import run_settings
from nodes.llm.client import ChatClient, EndpointsDown, LLMError, labelled
from nodes.llm.factory import make_client
from nodes.query_gen import QueryGenError, generate_query
from state.attributes import sample_attributes
from state.config import RunConfig
from state.priors import Priors, default_priors, load_priors

FLUSH_EVERY_S = 0.5
FLUSH_ROWS = 1024


@dataclass
class Slice:
    """The ids one engine owns: start, start+stride, … below n."""

    n: int
    start: int = 0
    stride: int = 1

    def ids(self) -> Iterator[int]:
        return iter(range(self.start, self.n, self.stride))

    def owns(self, item_id: int) -> bool:
        return item_id < self.n and item_id >= self.start and (item_id - self.start) % self.stride == 0


@dataclass
class Stats:
    """Counters a worker reports (summed across workers by the progress view)."""

    done: int = 0
    kept: int = 0
    dropped: int = 0
    failed: int = 0
    in_flight: int = 0
    completion_tokens: dict[str, int] = field(default_factory=dict)
    in_flight_calls: dict[str, int] = field(default_factory=dict)  # LLM requests out now, by stage
    stopped: str | None = None
    finished: bool = False
    elapsed_s: float = 0.0  # set by graph.run's progress view at the end


def pending(store: Store, part: Slice, retry_failed: bool) -> Iterator[int]:
    """Ids of `part` with no stored outcome (or, with retry_failed, those in failures), ascending, streamed."""
    if retry_failed:
        yield from (i for i in store.failed_ids() if part.owns(i))
        return
    done = store.done_ids(part.start)
    nxt = next(done, None)
    for item_id in part.ids():
        while nxt is not None and nxt < item_id:
            nxt = next(done, None)
        if nxt == item_id:
            continue
        yield item_id


@dataclass
class Engine:
    """Runs one slice of a run against a store. `run()` returns the final Stats."""

    db: Path
    config: RunConfig
    seed: int
    part: Slice
    concurrency: int = 256
    retry_failed: bool = False
    on_stats: Callable[[Stats], None] | None = None
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self) -> None:
        self.priors: Priors = load_priors(self.config.priors_file) if self.config.priors_file else default_priors()
        self._stop: str | None = None
        self._teacher_sampling = self.config.sampling_for("teacher")
        self._teacher_name = ""

    # -- one item ----------------------------------------------------------------------------------
    async def _item(self, item_id: int, graph: Any, gen_client: ChatClient, teacher: ChatClient | None,
                    store: Store) -> None:
        t0 = time.perf_counter()
        stored, query_call = store.stored_query(item_id), None
        try:
            if stored is not None:
                query, attributes = stored[0], json.loads(stored[1])
            else:
                attrs = sample_attributes(self.seed, item_id, self.priors)
                query, made = await labelled("query", generate_query(gen_client, attrs, self.config))
                attributes, query_call = attrs.model_dump(), call_record("query", made)
        except QueryGenError as exc:
            return self._failed(store, item_id, "query", f"QueryGenError:{exc.reason}", str(exc), 1)
        except EndpointsDown:
            raise
        except LLMError as exc:
            return self._failed(store, item_id, "query", exc.kind, str(exc), exc.attempts)
        jobs = [graph.ainvoke({"query": query, "attributes": attributes})]
        if teacher is not None:
            jobs.append(labelled("teacher", teacher.chat([{"role": "user", "content": query}], self._teacher_sampling)))
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
        for stage, outcome in zip(("graph", "teacher"), outcomes, strict=False):
            if isinstance(outcome, EndpointsDown):
                raise outcome
            if isinstance(outcome, LLMError):
                where = outcome.extra.get("stage", stage)
                return self._failed(store, item_id, where, outcome.kind, str(outcome), outcome.attempts, query, attributes)
            if isinstance(outcome, BaseException):
                return self._failed(store, item_id, stage, type(outcome).__name__, str(outcome)[:500], 1, query, attributes)
        state: dict[str, Any] = outcomes[0]  # type: ignore[assignment]
        latency = (time.perf_counter() - t0) * 1000
        store.add("queries", (item_id, json.dumps(attributes), query))
        store.add("results", result_row(item_id, state, latency, query_call))
        if teacher is not None:
            store.add("teacher", teacher_row(item_id, self._teacher_name, outcomes[1], run_settings(self.config),
                                             query))
        if self.retry_failed:
            store.clear_failure(item_id)
        self.stats.done += 1
        if state["verdict"].kept:
            self.stats.kept += 1
        else:
            self.stats.dropped += 1

    def _failed(self, store: Store, item_id: int, stage: str, error_class: str, message: str, attempts: int,
                query: str | None = None, attributes: dict[str, Any] | None = None) -> None:
        if query is not None:
            store.add("queries", (item_id, json.dumps(attributes), query))
        store.add("failures", (item_id, stage, error_class, " ".join(message.split())[:1000], attempts))
        self.stats.done += 1
        self.stats.failed += 1

    # -- the loop ----------------------------------------------------------------------------------
    async def run(self) -> Stats:
        store = Store.open(self.db)
        client = make_client(self.config, concurrency=self.concurrency)
        gen_client = make_client(self.config, self.config.generator, self.concurrency) if self.config.generator else client
        teacher = make_client(self.config, self.config.teacher, self.concurrency) if self.config.teacher else None
        clients = [c for c in {id(c): c for c in (client, gen_client, teacher) if c is not None}.values()]
        try:
            for c in clients:
                await c.model_name()
            if teacher is not None:
                self._teacher_name = await teacher.model_name()
                record_teacher(store, self._teacher_name, self.config)
            graph = build_graph(self.config, client)
            await self._loop(store, graph, gen_client, teacher, clients)
        finally:
            store.close()
            for c in clients:
                await c.aclose()
        self.stats.finished = self._stop is None
        self.stats.stopped = self._stop
        self._report(clients)
        return self.stats

    async def _loop(self, store: Store, graph: Any, gen_client: ChatClient, teacher: ChatClient | None,
                    clients: list[ChatClient]) -> None:
        slots = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()

        def finished(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            slots.release()
            self.stats.in_flight -= 1
            if not task.cancelled() and isinstance(task.exception(), EndpointsDown):
                self._stop = self._stop or str(task.exception())
            elif not task.cancelled() and task.exception() is not None:
                self._stop = self._stop or f"internal error: {task.exception()!r}"

        ticker = asyncio.create_task(self._ticker(store, clients))
        try:
            for item_id in pending(store, self.part, self.retry_failed):
                await slots.acquire()
                if self._stop:
                    slots.release()
                    break
                self.stats.in_flight += 1
                task = asyncio.create_task(self._item(item_id, graph, gen_client, teacher, store))
                tasks.add(task)
                task.add_done_callback(finished)
            if tasks:
                await asyncio.wait(set(tasks))
        finally:
            for task in list(tasks):
                task.cancel()
            if tasks:
                await asyncio.wait(set(tasks))
            ticker.cancel()
            store.flush()

    async def _ticker(self, store: Store, clients: list[ChatClient]) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            store.flush()
            self._report(clients)

    def _report(self, clients: list[ChatClient]) -> None:
        calls: dict[str, int] = {}
        for c in clients:
            for stage, k in getattr(c, "in_flight_by_stage", {}).items():
                calls[stage] = calls.get(stage, 0) + k
        self.stats.in_flight_calls = {s: k for s, k in calls.items() if k > 0}
        for c in clients:
            for ep in getattr(c, "endpoints", []):
                self.stats.completion_tokens[ep.url] = ep.completion_tokens
        if self.on_stats is not None:
            self.on_stats(self.stats)
