"""The embedded engines side by side, and the orchestration's cost on a real engine.

  python bench/engines.py                          # both cases, ≈ 25 min on 2 cores
  python bench/engines.py --cases engines --engines vllm,llamacpp
  python bench/engines.py --cases orchestration --levels 8,32,128

engines        each engine serving SmolLM2-135M on this CPU: start-up seconds, generated tokens/s with 1,
               16 and 64 requests in flight (128 new tokens each), and the wall time of
               `graph.run --n 32` with the embedded profile at the engine's own concurrency.
orchestration  vLLM only, in one run: the server's aggregate tokens/s when the node functions make a
               graph's calls (same prompts, same caps, same order) straight from asyncio, with no
               LangGraph, runner or store, next to the tokens/s and graphs/min that `graph.run` reaches
               on the same ids, at each concurrency level. The ratio is what the orchestration costs.
The last stdout line is the whole result as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph.serve.embedded import ENGINES  # noqa: E402
from graph.serve.process import ServerProcess  # noqa: E402
from nodes.context import NodeContext  # noqa: E402
from nodes.evaluate import make_evaluator  # noqa: E402
from nodes.generate import make_generate  # noqa: E402
from nodes.llm.http import HttpClient  # noqa: E402
from nodes.merge import merge  # noqa: E402
from nodes.query_gen import QueryGenError, generate_query  # noqa: E402
from nodes.refine_directref import make_directref  # noqa: E402
from state.attributes import sample_attributes  # noqa: E402
from state.config import EMBEDDED_PROFILE, EndpointConfig, RunConfig, Sampling  # noqa: E402
from state.grammars import QUESTION as QUESTION_GRAMMAR  # noqa: E402
from state.priors import default_priors  # noqa: E402

# Caps of the orchestration case (a 135M model rambles to its cap, so both sides generate alike).
CAPS = {"query": 96, "generate": 96, "evaluate": 48, "refine": 96}
QUESTION = {"structured_outputs": {"regex": QUESTION_GRAMMAR}}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def burst(url: str, concurrency: int, max_tokens: int = 128) -> float:
    """Generated tokens/s with `concurrency` requests in flight (one warm-up request first)."""
    client = HttpClient(EndpointConfig(base_urls=[url], timeout_s=900), concurrency=concurrency)
    sampling = Sampling(max_tokens=max_tokens)
    try:
        await client.chat([{"role": "user", "content": "Say hello."}], sampling.model_copy(update={"max_tokens": 8}))
        began = time.perf_counter()
        done = await asyncio.gather(*(client.chat([{"role": "user", "content": f"Explain fever in children, case {i}."}],
                                                  sampling) for i in range(concurrency)))
        return sum(c.completion_tokens for c in done) / (time.perf_counter() - began)
    finally:
        await client.aclose()


def graph_run(url: str, n: int, concurrency: int, config: dict[str, Any], tmp: Path) -> dict[str, float]:
    """Wall time, results, completion tokens and graphs/min of one `python -m graph.run` against `url`."""
    db, cfg = tmp / f"run-{n}-{concurrency}-{time.monotonic_ns()}.sqlite", tmp / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "graph.run", "--n", str(n), "--db", str(db), "--base-url", url,
                    "--concurrency", str(concurrency), "--config", str(cfg)], cwd=ROOT, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - began
    with sqlite3.connect(db) as conn:
        results = conn.execute("SELECT count(*) FROM results").fetchone()[0]
        failures = conn.execute("SELECT count(*) FROM failures").fetchone()[0]
        usages = [json.loads(u) for (u,) in conn.execute("SELECT usage FROM results")]
    tokens = sum(c["completion_tokens"] for u in usages for c in u["calls"])
    return {"wall_s": round(wall, 1), "results": results, "failures": failures,
            "graph_tok_s": round(tokens / wall, 1), "graphs_per_min": round(60 * results / wall, 1)}


async def raw_graphs(url: str, n: int, concurrency: int, config: RunConfig) -> float:
    """Aggregate tokens/s of n graphs' calls made by the same node functions, with the same prompts and
    caps, called in the graph's order (query, generate, three facets at once, merge, refine) straight from
    asyncio: no LangGraph, no runner, no store. graph.run's rate over this one is the orchestration's share."""
    client = HttpClient(EndpointConfig(base_urls=[url], timeout_s=900), concurrency=concurrency)
    ctx = NodeContext(config=config, client=client)
    generate, refine = make_generate(ctx), make_directref(ctx)
    evaluators = [make_evaluator(ctx, facet) for facet in config.facets]
    slots = asyncio.Semaphore(concurrency)

    async def one(i: int) -> int:
        async with slots:
            try:
                query, first = await generate_query(client, sample_attributes(0, i, default_priors()), config)
            except QueryGenError:
                return 0
            state: dict[str, Any] = {"query": query, "calls": []}
            state.update(await generate(state))  # type: ignore[arg-type]
            outs = await asyncio.gather(*(evaluate(state) for evaluate in evaluators))  # type: ignore[arg-type]
            state["verdicts"] = [v for out in outs for v in out["verdicts"]]
            state.update(await merge(state))  # type: ignore[arg-type]
            calls = [*state["calls"], *(c for out in outs for c in out["calls"])]
            if "refinement" not in state:
                calls += (await refine(state))["calls"]  # type: ignore[arg-type]
            return first.completion_tokens + sum(c.completion_tokens for c in calls)

    try:
        await client.model_name()
        began = time.perf_counter()
        tokens = sum(await asyncio.gather(*(one(i) for i in range(n))))
        return tokens / (time.perf_counter() - began)
    finally:
        await client.aclose()


def with_server(engine: str, work: Any) -> dict[str, Any]:
    module = ENGINES[engine]
    port = free_port()
    server = ServerProcess(module.launch(host="127.0.0.1", port=port), port=port)
    server.start()
    try:
        return {"startup_s": round(server.startup_seconds or 0.0, 1), **work(server.url, module)}
    finally:
        server.stop()


def engines_case(names: list[str], n: int, tmp: Path) -> dict[str, Any]:
    out = {}
    for name in names:
        def work(url: str, module: Any) -> dict[str, Any]:
            rates = {f"tok_s_{c}": round(asyncio.run(burst(url, c)), 1) for c in (1, 16, 64)}
            profile = {**EMBEDDED_PROFILE, **module.PROFILE}
            return {**rates, f"graph_run_n{n}": graph_run(url, n, module.CONCURRENCY, profile, tmp)}

        out[name] = with_server(name, work)
        print(name, json.dumps(out[name]), file=sys.stderr, flush=True)
    return out


def orchestration_case(levels: list[int], tmp: Path) -> dict[str, Any]:
    config = {"sampling": {"max_tokens": CAPS["generate"]}, "evaluator_prefill": "We should",
              "node_sampling": {"evaluate": {"max_tokens": CAPS["evaluate"]},
                                "query": {"max_tokens": CAPS["query"], "extra_body": QUESTION}}}

    def work(url: str, module: Any) -> dict[str, Any]:
        rows = {}
        for level in levels:
            n = max(32, level)
            raw = asyncio.run(raw_graphs(url, n, level, RunConfig.model_validate(config)))
            run = graph_run(url, n, level, config, tmp)
            rows[str(level)] = {"n": n, "raw_tok_s": round(raw, 1), **run,
                                "graph_over_raw": round(run["graph_tok_s"] / raw, 2)}
            print(level, json.dumps(rows[str(level)]), file=sys.stderr, flush=True)
        return rows

    return with_server("vllm", work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="engines,orchestration")
    parser.add_argument("--engines", default="vllm,llamacpp")
    parser.add_argument("--levels", default="8,32,128")
    parser.add_argument("--n", type=int, default=32, help="queries of the engines case's graph.run")
    args = parser.parse_args()
    cases = set(args.cases.split(","))
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if "engines" in cases:
            result["engines"] = engines_case(args.engines.split(","), args.n, Path(tmp))
        if "orchestration" in cases:
            result["orchestration"] = orchestration_case([int(x) for x in args.levels.split(",")], Path(tmp))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
