"""Orchestration overhead of graph.run, measured against a zero-work stub server in its own process.

  python bench/orchestrator.py            # full run (≈20 min on 2 cores), prints one JSON line last
  python bench/orchestrator.py --quick    # smaller n everywhere (≈5 min)

Cases, each in a fresh child process so CPU time and peak RSS are its own:
  raw      plain asyncio + the project's HTTP client making the same 6 calls per query; no graph, no store
  graph    the real graph.run engine (attributes → query → LangGraph graph → batched SQLite store)
Both count the same 6 calls' tokens per graph (graph.run from its store, query generation included since it is
stored) and report start-up (interpreter, imports, store) apart from the measured run.
at 0 ms and 1000 ms stub latency with 256 in flight; graph.run at n and 10·n for RSS growth; and
`python -m graph.run --workers 1|2` for the two-core scaling ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CALLS_PER_GRAPH = 6  # query, generate, 3 facets, refine


def start_stub(latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "stub_server.py"), "--latency-ms", str(latency_ms)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def child(args: list[str]) -> dict[str, float]:
    """Run this file as a child case; its last stdout line is its JSON report (own CPU time and peak RSS)."""
    proc = subprocess.run([sys.executable, __file__, *args, "--started", repr(time.time())], stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def steady_rate(marks: list[tuple[float, int]], n: int) -> float:
    """graphs/s between 10% and 90% of n done: the rate once the pipeline is full, before it drains."""
    lo = next((m for m in marks if m[1] >= 0.1 * n), marks[0])
    hi = next((m for m in marks if m[1] >= 0.9 * n), marks[-1])
    return (hi[1] - lo[1]) / max(hi[0] - lo[0], 1e-6)


def run_raw(url: str, n: int, concurrency: int) -> tuple[float, float, int]:
    """Same calls as one graph, straight through the HTTP client; (seconds, steady graphs/s, tokens)."""
    from nodes.llm.http import HttpClient
    from state.config import EndpointConfig, Sampling

    tokens = [0]

    async def main() -> tuple[float, float]:
        client = HttpClient(EndpointConfig(base_urls=[url]), concurrency=concurrency)
        await client.model_name()
        sampling = Sampling()
        slots = asyncio.Semaphore(concurrency)
        marks: list[tuple[float, int]] = []

        async def one(i: int) -> None:
            try:
                q = await client.chat([{"role": "user", "content": f"Write one query about case {i}."}], sampling)
                r0 = await client.chat([{"role": "user", "content": q.text}], sampling)
                evals = await asyncio.gather(*[client.chat([{"role": "user", "content": f"{f}: We should? {r0.text}"}], sampling)
                                               for f in ("decision", "communication", "safety")])
                r1 = await client.chat([{"role": "user", "content": "refine " + " ".join(e.text for e in evals)}], sampling)
                tokens[0] += sum(c.prompt_tokens + c.completion_tokens for c in (q, r0, *evals, r1))
                marks.append((time.perf_counter(), len(marks) + 1))
            finally:
                slots.release()

        t0 = time.perf_counter()
        tasks = set()
        for i in range(n):
            await slots.acquire()
            task = asyncio.create_task(one(i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
        await client.aclose()
        return elapsed, steady_rate(marks, n)

    return (*asyncio.run(main()), tokens[0])


def run_graph(url: str, n: int, concurrency: int) -> tuple[float, float, int]:
    """The graph.run engine with its store and progress callback; (seconds, steady graphs/s, stored tokens)."""
    from graph.batch.engine import Engine, Slice
    from graph.batch.progress import Progress
    from graph.store.db import Store
    from state.resolve import resolve_config

    db = Path(tempfile.mkdtemp()) / "bench.sqlite"
    config = resolve_config(None, {"endpoint.base_urls": [url]}, environ={})
    store = Store.open(db, create=True)
    store.write_run(config.model_dump(mode="json"), 0, n, "")
    store.close()
    marks: list[tuple[float, int]] = []

    with Progress(n, 0, log_every_s=3600) as progress:
        def on_stats(stats: Any) -> None:
            marks.append((time.perf_counter(), stats.done))
            progress.update(stats)

        engine = Engine(db, config, 0, Slice(n), concurrency, on_stats=on_stats)
        t0 = time.perf_counter()
        stats = asyncio.run(engine.run())
        elapsed = time.perf_counter() - t0
    assert stats.done == n and stats.failed == 0, stats
    import sqlite3

    conn = sqlite3.connect(db)  # every call's tokens as stored in results.usage (query generation included)
    tokens = conn.execute("SELECT sum(json_extract(usage, '$.prompt_tokens') + "
                          "json_extract(usage, '$.completion_tokens')) FROM results").fetchone()[0]
    conn.close()
    return elapsed, steady_rate(marks, n), int(tokens)


def child_main(kind: str, url: str, n: int, concurrency: int, started: float) -> None:
    """One case; start-up (interpreter, imports, until the first call) is reported apart as startup_s."""
    cpu0 = time.process_time()
    elapsed, steady, tokens = (run_raw if kind == "raw" else run_graph)(url, n, concurrency)
    cpu = time.process_time() - cpu0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    startup = time.time() - started - elapsed
    print(json.dumps({"graphs_per_s": steady, "graphs_per_s_whole_run": n / elapsed, "cpu_ms_per_graph": 1000 * cpu / n,
                      "peak_rss_mb": rss_mb, "seconds": elapsed, "startup_s": startup, "tokens_per_graph": tokens / n,
                      "n": n}))


def cli_rate(url: str, n: int, workers: int, concurrency: int) -> float:
    """graphs/s of `python -m graph.run --workers W`, from the store's progress after start-up."""
    db = Path(tempfile.mkdtemp()) / "cli.sqlite"
    cmd = [sys.executable, "-m", "graph.run", "--n", str(n), "--db", str(db), "--base-url", url,
           "--concurrency", str(concurrency), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import sqlite3

    marks: list[tuple[float, int]] = []
    while proc.poll() is None:
        time.sleep(0.5)
        try:
            conn = sqlite3.connect(db, timeout=1)
            done = conn.execute("SELECT count(*) FROM results").fetchone()[0]
            conn.close()
        except sqlite3.Error:
            continue
        marks.append((time.perf_counter(), done))
    return steady_rate(marks, n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Smaller n (rough figures in a few minutes).")
    parser.add_argument("--child", choices=["raw", "graph"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--started", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=256, help="Graphs in flight (default 256).")
    parser.add_argument("--cases", default="latency0,workers,rss,latency1000",
                        help="Comma-separated subset of: latency0, workers, rss, latency1000.")
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.url, args.n, args.concurrency, args.started or time.time())
        return
    n0, n_slow, n_small, n_big = (3000, 1500, 5000, 50000) if args.quick else (10000, 3000, 10000, 100000)
    out: dict[str, object] = {"concurrency": args.concurrency, "calls_per_graph": CALLS_PER_GRAPH}

    cases = set(args.cases.split(","))
    stub, url = start_stub(0)
    try:
        if "latency0" in cases:
            raw0 = child(["--child", "raw", "--url", url, "--n", str(n0), "--concurrency", str(args.concurrency)])
            graph0 = child(["--child", "graph", "--url", url, "--n", str(n0), "--concurrency", str(args.concurrency)])
            out["latency_0ms"] = {"raw": raw0, "graph_run": graph0,
                                  "ratio_b_over_a": graph0["graphs_per_s"] / raw0["graphs_per_s"]}
            print(json.dumps({"latency_0ms": out["latency_0ms"]}), file=sys.stderr, flush=True)
        if "workers" in cases:
            w1 = cli_rate(url, n_small, 1, args.concurrency)
            w2 = cli_rate(url, n_small, 2, args.concurrency)
            out["workers"] = {"graphs_per_s_1": w1, "graphs_per_s_2": w2, "ratio_2_over_1": w2 / w1}
            print(json.dumps({"workers": out["workers"]}), file=sys.stderr, flush=True)
        if "rss" in cases:
            small = child(["--child", "graph", "--url", url, "--n", str(n_small), "--concurrency", str(args.concurrency)])
            big = child(["--child", "graph", "--url", url, "--n", str(n_big), "--concurrency", str(args.concurrency)])
            out["rss"] = {"n_small": n_small, "rss_mb_small": small["peak_rss_mb"], "n_big": n_big,
                          "rss_mb_big": big["peak_rss_mb"], "growth": big["peak_rss_mb"] / small["peak_rss_mb"] - 1}
            print(json.dumps({"rss": out["rss"]}), file=sys.stderr, flush=True)
    finally:
        stub.terminate()
    if "latency1000" not in cases:
        print(json.dumps(out))
        return
    stub, url = start_stub(1000)
    try:
        raw1 = child(["--child", "raw", "--url", url, "--n", str(n_slow), "--concurrency", str(args.concurrency)])
        graph1 = child(["--child", "graph", "--url", url, "--n", str(n_slow), "--concurrency", str(args.concurrency)])
        bound = args.concurrency / (4 * 1.0)  # four sequential rounds of 1 s per graph
        out["latency_1000ms"] = {"raw": raw1, "graph_run": graph1, "littles_law_bound": bound,
                                 "graph_fraction_of_bound": graph1["graphs_per_s"] / bound,
                                 "ratio_b_over_a": graph1["graphs_per_s"] / raw1["graphs_per_s"]}
    finally:
        stub.terminate()
    print(json.dumps(out))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
