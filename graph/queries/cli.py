"""python -m graph.queries: sample query attributes (paper Appendix A) and, unless --dry-run, write the queries.

  python -m graph.queries --n 20000 --seed 1 --dry-run            # attributes as JSON lines, no LLM
  python -m graph.queries --n 20000 --seed 1 --dry-run --summary  # observed distribution vs the priors
  python -m graph.queries --n 5 --base-url http://127.0.0.1:8000/v1   # attributes + "query" per line

Attributes of id i depend only on (seed, i); output is in id order. Without --base-url (and no endpoint
in the config) the embedded SmolLM2 server is started and stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import IO, Any

from graph.cli import embedded_profile, endpoints, fail
from graph.queries.pregen import check_seed, ids_to_generate
from graph.queries.summary import print_summary
from graph.store.db import Store, StoreError
from graph.store.owner import owned
from graph.url_flags import UrlList
from nodes.llm.client import ChatClient, EndpointsDown, LLMError
from nodes.llm.factory import make_client
from nodes.query_gen import QueryGenError, generate_query
from state.attributes import Attributes, sample_attributes
from state.config import RunConfig
from state.priors import load_priors
from state.resolve import resolve_config

FIELDS = (
    "id",
    "role",
    "country",
    "setting",
    "icd10_code",
    "disease",
    "intent",
    "vagueness",
    "completeness",
    "style",
)


def record(attrs: Attributes, query: str | None = None) -> dict[str, Any]:
    """The JSON line for one id: the attribute fields, plus "query" once generated."""
    out = {name: getattr(attrs, name) for name in FIELDS}
    if query is not None:
        out["query"] = query
    return out


async def generate_all(
    client: ChatClient, config: RunConfig, attrs: Iterable[Attributes], concurrency: int, out: IO[str],
    store: Store | None = None,
) -> tuple[int, int]:
    """Generate a query per attribute set, `concurrency` calls in flight, lines written in id order.

    A failed id gets a one-line warning on stderr and is counted; EndpointsDown stops the whole run.
    Returns (written, failed).
    """
    sem = asyncio.Semaphore(concurrency)

    async def one(a: Attributes) -> tuple[Attributes, str | Exception]:
        async with sem:
            try:
                return a, (await generate_query(client, a, config))[0]
            except EndpointsDown:
                raise
            except (QueryGenError, LLMError) as exc:
                return a, exc

    window: deque[asyncio.Task[tuple[Attributes, str | Exception]]] = deque()
    source: Iterator[Attributes] = iter(attrs)
    written = failed = 0
    rows: list[tuple[Any, ...]] = []
    try:
        while True:
            while len(window) < 4 * concurrency and (a := next(source, None)) is not None:
                window.append(asyncio.create_task(one(a)))
            if not window:
                return written, failed
            item, result = await window.popleft()
            if isinstance(result, str) and store is not None:
                rows.append((item.id, json.dumps(item.model_dump()), result))
                if len(rows) >= 256:
                    store.add_queries(rows)
                    rows.clear()
                written += 1
            elif isinstance(result, str):
                out.write(json.dumps(record(item, result), ensure_ascii=False) + "\n")
                out.flush()
                written += 1
            else:
                reason = (
                    result.reason if isinstance(result, QueryGenError) else getattr(result, "kind", "error")
                )
                print(
                    f"warning: id {item.id} failed ({reason}): {' '.join(str(result).split())}",
                    file=sys.stderr,
                    flush=True,
                )
                failed += 1
    finally:
        for task in window:
            task.cancel()
        if rows and store is not None:
            store.add_queries(rows)


async def _run(
    config: RunConfig, ids: Iterable[int], seed: int, concurrency: int, out: IO[str], db: Path | None = None
) -> tuple[int, int]:
    priors = load_priors(config.priors_file)
    client = make_client(config, concurrency=concurrency)
    try:
        model = await client.model_name()  # fails fast, with one line, when the endpoint is unreachable
        store = Store.open(db, create=True) if db is not None else None
        if store is not None:  # never replace a query a run may have answered, nor add ids it will not run
            try:
                check_seed(store, seed, priors)
            except StoreError:
                store.conn.close()
                raise
            ids = ids_to_generate(store, ids)
        s = config.sampling_for("query")
        print(
            f"generating with {model} at {', '.join(config.endpoint.base_urls)} (concurrency {concurrency}, "
            f"temperature {s.temperature}, top_p {s.top_p}, max_tokens {s.max_tokens})",
            file=sys.stderr,
            flush=True,
        )
        try:
            attrs = (sample_attributes(seed, i, priors) for i in ids)
            return await generate_all(client, config, attrs, concurrency, out, store)
        finally:
            if store is not None:
                store.conn.close()
    finally:
        await client.aclose()


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line instead of usage + error
        fail(f"{message} (see python -m graph.queries --help)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m graph.queries",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--n", type=int, required=True, help="Number of queries (ids start … start+n-1).")
    p.add_argument("--seed", type=int, default=0, help="Sampling seed (default 0).")
    p.add_argument("--start", type=int, default=0, help="First id (default 0): resume or shard a run.")
    p.add_argument("--dry-run", action="store_true", help="Print sampled attributes only; no LLM call.")
    p.add_argument(
        "--summary",
        action="store_true",
        help="Print the observed distribution next to the priors (no LLM call).",
    )
    p.add_argument("--priors", type=Path, help="YAML merged over the packaged priors (state/priors.yaml).")
    p.add_argument("--out", type=Path, help="Write the JSON lines to this file instead of stdout.")
    p.add_argument("--db", type=Path, help="Write the queries into this run store (graph.run then uses them).")
    p.add_argument(
        "--config", type=Path, help="YAML run config (endpoint, sampling, node_sampling.query, …)."
    )
    p.add_argument(
        "--base-url",
        action=UrlList,
        dest="base_urls",
        metavar="URL",
        help="Generator endpoint, OpenAI-compatible …/v1 (repeatable). Omitted: the embedded model.",
    )
    p.add_argument("--model", help="Served model name (default: discovered from /v1/models).")
    p.add_argument("--concurrency", type=int, default=64, help="Generator calls in flight (default 64).")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.n < 0 or args.start < 0:
        fail(f"--n and --start must be 0 or more (got --n {args.n}, --start {args.start})")
    if args.concurrency < 1:
        fail(f"--concurrency must be at least 1 (got {args.concurrency})")
    cli = {"endpoint.base_urls": args.base_urls, "endpoint.model": args.model, "priors_file": args.priors}
    config = resolve_config(args.config, cli)
    if config.generator is not None and not args.base_urls:  # the config names a separate query generator
        config = config.model_copy(update={"endpoint": config.generator})
    priors = load_priors(config.priors_file)
    ids = range(args.start, args.start + args.n)
    samples = (sample_attributes(args.seed, i, priors) for i in ids)
    if args.summary:
        print_summary(samples, priors, f"{args.n:,} samples, seed {args.seed}, ids from {args.start}")
        return 0
    with args.out.open("w", encoding="utf-8") if args.out else nullcontext(sys.stdout) as out:
        if args.dry_run:
            try:
                for a in samples:
                    out.write(json.dumps(record(a), ensure_ascii=False) + "\n")
            except BrokenPipeError:  # `| head`: the reader has what it wanted
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
        lock = owned(args.db, "graph.queries") if args.db is not None else nullcontext(0)
        with lock, endpoints(config.endpoint.base_urls, log) as (urls, embedded):
            if embedded:
                config = resolve_config(args.config, {**cli, "endpoint.base_urls": urls}, profile=embedded_profile(embedded))
                args.concurrency = min(args.concurrency, embedded.concurrency)
            written, failed = asyncio.run(_run(config, ids, args.seed, args.concurrency, out, args.db))
    print(
        f"wrote {written} queries, {failed} failed{f' (into {args.out or args.db})' if args.out or args.db else ''}",
        file=sys.stderr,
    )
    return 1 if failed and not written else 0

