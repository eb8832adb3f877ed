"""The product against a real vLLM server (CPU build, SmolLM2-135M, a 2,048-token context): every command
a user runs, and not one request the server refuses (HTTP 400). The model is tiny, so the tests check
machinery and structure, never wording. One server serves the whole session (tests/vllm_session.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from vllm_session import ROOT, VllmServer

from nodes.llm.client import LLMError
from nodes.llm.http import HttpClient
from state.config import EndpointConfig, Sampling
from state.grammars import QUESTION
from state.profiles import BUDGETS

# A CPU without AVX-512 serves the embedded model several times slower than one with it: allow for it.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
QUERY = "My 3 year old has had a fever of 39.5 for two days, what should I do?"
MINI = ROOT / "tests" / "eval" / "fixtures" / "mini.jsonl"
# The model opens and closes a think block because the output must match this; vLLM's olmo3 parser then
# files the block under `reasoning`.
THINK = r"<think>[A-Za-z ,.]{20,160}</think>[A-Za-z ,.]{40,300}"
# A 135M generator rambles past any token cap (a typed `truncated` failure); the small profile's query grammar
# makes it end with a whole question instead, within the profile's query budget (up to 4 sentences of up to
# 20 words, numbers of up to 4 digits: 96 queries took at most 225 of its 384 tokens), so that the graph has
# queries to work on.
ONE_QUESTION = {"max_tokens": BUDGETS["query"], "extra_body": {"structured_outputs": {"regex": QUESTION}}}


def cli(*args: str, timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def small_config(tmp_path: Path, **extra: Any) -> Path:
    """Short answers keep a 135M model's rambling to seconds per call."""
    config = {"sampling": {"max_tokens": 96}, "node_sampling": {"evaluate": {"max_tokens": 48}},
              "evaluator_prefill": "We should", **extra}
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_default_configuration_is_never_refused(vllm: VllmServer) -> None:
    """The paper's max_tokens (40960) against a 2,048-token context: budgets shrink, nothing is refused.
    The query generator's cap keeps it short; the graph runs whatever the model's lengths turn out to be."""
    before = vllm.refusals()
    proc = cli("graph.trace", "--query", QUERY, "--base-url", vllm.url, "--json", timeout=2000)
    assert vllm.refusals() == before
    assert "max_tokens 40960 does not always fit the 2048-token context" in proc.stderr
    if proc.returncode != 0:  # a long r0 may leave an evaluator no room: a typed failure, never a 400
        assert "context" in proc.stderr and "tokens" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    else:
        trace = json.loads(proc.stdout)
        assert trace["generation"]["answer"].strip()


@pytest.mark.parametrize("refiner", ["directref", "contgen"])
def test_trace_runs_the_whole_graph(vllm: VllmServer, tmp_path: Path, refiner: str) -> None:
    proc = cli("graph.trace", "--query", QUERY, "--base-url", vllm.url, "--refiner", refiner, "--json",
               "--config", str(small_config(tmp_path)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    trace = json.loads(proc.stdout)
    assert trace["config"]["refiner"] == refiner and trace["config"]["contgen_api"] == "chat"
    assert trace["generation"]["answer"].strip()
    assert {v["facet"] for v in trace["verdicts"]} == {"decision", "communication", "safety"}
    nodes = {c["node"] for c in trace["calls"]}
    assert {"generate", "eval_decision", "eval_communication", "eval_safety"} <= nodes
    if trace["refinement"]["refined"]:
        assert trace["refinement"]["method"] == refiner and f"refine_{refiner}" in nodes
        assert trace["refinement"]["answer"].strip()
    assert all(c["completion_tokens"] > 0 and c["endpoint"] == vllm.url for c in trace["calls"])


def test_reasoning_reaches_t0_through_the_servers_parser(vllm: VllmServer, tmp_path: Path) -> None:
    async def ask() -> Any:
        client = HttpClient(EndpointConfig(base_urls=[vllm.url]))
        try:
            sampling = Sampling(max_tokens=200, extra_body={"structured_outputs": {"regex": THINK}})
            return await client.chat([{"role": "user", "content": QUERY}], sampling)
        finally:
            await client.aclose()

    completion = asyncio.run(ask())
    assert completion.reasoning and "<think>" not in completion.text and "</think>" not in completion.text
    config = small_config(tmp_path, node_sampling={
        "evaluate": {"max_tokens": 48},
        "generate": {"max_tokens": 200, "extra_body": {"structured_outputs": {"regex": THINK}}},
    })
    proc = cli("graph.trace", "--query", QUERY, "--base-url", vllm.url, "--json", "--config", str(config))
    assert proc.returncode == 0, proc.stderr[-3000:]
    generation = json.loads(proc.stdout)["generation"]
    assert generation["reasoning"].strip() and generation["answer"].strip()
    assert "think>" not in generation["reasoning"] + generation["answer"]


def test_wrong_model_is_one_line_naming_the_served_one(vllm: VllmServer) -> None:
    proc = cli("graph.trace", "--query", QUERY, "--base-url", vllm.url, "--model", "Qwen/Qwen3-32B", timeout=120)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "'Qwen/Qwen3-32B' is not served" in last and vllm.model in last


def test_an_overlong_prompt_is_a_typed_failure_not_a_refusal(vllm: VllmServer) -> None:
    before = vllm.refusals()
    proc = cli("graph.trace", "--query", "Please read my notes. " + "fever chills cough " * 1500,
               "--base-url", vllm.url, "--max-tokens", "64", timeout=120)
    assert proc.returncode == 2 and vllm.refusals() == before
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: generate: context") and "2048 tokens" in last and "Traceback" not in proc.stderr


def stored(db: Path) -> tuple[list[int], list[int]]:
    with sqlite3.connect(db) as conn:
        results = [r[0] for r in conn.execute("SELECT id FROM results")]
        failures = [r[0] for r in conn.execute("SELECT id FROM failures")]
    return results, failures


def test_run_is_killed_and_resumes_exactly(vllm: VllmServer, tmp_path: Path) -> None:
    db, config = tmp_path / "run.sqlite", small_config(tmp_path, node_sampling={
        "evaluate": {"max_tokens": 48}, "query": ONE_QUESTION})
    cmd = [sys.executable, "-m", "graph.run", "--n", "16", "--db", str(db), "--base-url", vllm.url,
           "--concurrency", "8", "--config", str(config)]
    first = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and first.poll() is None:
            time.sleep(1)
            if db.exists() and sum(map(len, stored(db))) >= 3:
                break
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    done_before = sum(map(len, stored(db)))
    assert 3 <= done_before < 16, "kill the run while it is in flight"
    resumed = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=2000)
    results, failures = stored(db)
    assert sorted(results + failures) == list(range(16)), resumed.stderr[-3000:]
    assert len(results) >= 8, f"too few results: failures {failures}\n{resumed.stderr[-2000:]}"
    with sqlite3.connect(db) as conn:
        classes = [r[0] for r in conn.execute("SELECT DISTINCT error_class FROM failures")]
    assert not any(c in ("http", "model", "malformed") for c in classes), classes


def test_queries_are_generated_by_the_real_model(vllm: VllmServer, tmp_path: Path) -> None:
    capped = small_config(tmp_path, node_sampling={"query": {"max_tokens": 64}})
    plain = cli("graph.queries", "--n", "2", "--seed", "3", "--base-url", vllm.url, "--config", str(capped))
    lines = [json.loads(line) for line in plain.stdout.splitlines() if line.strip()]
    # a 135M model usually rambles past a small cap: such ids are typed failures, never cut-off queries
    assert plain.stderr.strip().splitlines()[-1] == f"wrote {len(lines)} queries, {2 - len(lines)} failed"
    config = small_config(tmp_path, node_sampling={"query": ONE_QUESTION})
    proc = cli("graph.queries", "--n", "4", "--seed", "3", "--base-url", vllm.url, "--config", str(config))
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert proc.returncode == 0 and len(lines) == 4, proc.stderr[-2000:]
    assert all(line["query"].rstrip().endswith("?") and line["icd10_code"] for line in lines)


def test_healthbench_with_structured_output_grading(vllm: VllmServer, tmp_path: Path) -> None:
    db, out = tmp_path / "eval.sqlite", tmp_path / "report.json"
    proc = cli("eval.healthbench", "--data", str(MINI), "--n", "2", "--base-url", vllm.url, "--max-tokens", "96",
               "--grader-base-url", vllm.url, "--grader-prompt", "muser", "--grader-max-tokens", "96",
               "--db", str(db), "--out", str(out), timeout=2000)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1: some items could not be graded (reported)
    report = json.loads(out.read_text())
    assert report["grading"]["output"] == "json_schema", report["grading"]
    with sqlite3.connect(db) as conn:
        grades = conn.execute("SELECT count(*) FROM grades").fetchone()[0]
    assert grades >= 4  # the two sampled examples have at least 6 rubric items between them


def test_client_never_sends_what_cannot_fit(vllm: VllmServer) -> None:
    async def ask(text: str) -> Any:
        client = HttpClient(EndpointConfig(base_urls=[vllm.url]))
        try:
            return await client.chat([{"role": "user", "content": text}], Sampling(max_tokens=40960))
        finally:
            await client.aclose()

    before = vllm.refusals()
    with pytest.raises(LLMError) as err:
        asyncio.run(ask("cough " * 3000))
    assert err.value.kind == "context" and vllm.refusals() == before
