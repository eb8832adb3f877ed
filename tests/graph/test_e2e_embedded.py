"""End to end on the real embedded model as `make demo` runs it: `graph.run` with no endpoint starts the
embedded engine (vLLM on this CPU), generates queries, runs the full graph and stops the server; then
`training.data` builds the training set from what the run kept.

Checks structure, not wording: SmolLM2-135M is tiny, so answers are poor, but every stage must run,
parse and land in the store, the small profile's grammars must let most records through the gate
unloosened, and the server must be gone afterwards.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from ports import free_port, listening

# A CPU without AVX-512 serves the embedded model several times slower than one with it: allow for it.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


def test_run_queries_and_trace_on_the_embedded_model(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "MUSER_EMBEDDED_PORT": str(port)}
    db = tmp_path / "e2e.sqlite"
    proc = subprocess.run([sys.executable, "-m", "graph.run", "--n", "8", "--db", str(db), "--concurrency", "8"],
                          capture_output=True, text=True, env=env, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "embedded server stopped" in proc.stderr
    assert not listening(port), "the embedded server must be stopped when the run ends"

    conn = sqlite3.connect(db)
    results = conn.execute("SELECT id, answer, refined_answer, refined, rationales, facet_raw, usage FROM results").fetchall()
    verdicts = dict(conn.execute("SELECT id, coalesce(filter_reason, 'kept') FROM results").fetchall())
    failures = conn.execute("SELECT id, stage, error_class FROM failures").fetchall()
    queries = dict(conn.execute("SELECT id, query FROM queries").fetchall())
    (config,) = conn.execute("SELECT config FROM runs").fetchone()
    conn.close()
    assert sorted([r[0] for r in results] + [f[0] for f in failures]) == list(range(8))
    assert results, f"no query made it through the graph: {failures}"
    kept = [i for i, reason in verdicts.items() if reason == "kept"]
    assert len(kept) >= 6, f"the small profile should keep most records: {verdicts}, failures {failures}"
    stored = json.loads(config)
    assert stored["evaluator_prefill"] == "We should" and stored["prompt_set"] == "small"  # the small profile …
    assert stored["contgen_api"] == "chat"
    assert all("structured_outputs" in str(stored["node_sampling"][node]) for node in ("query", "generate", "evaluate", "refine"))  # … on vLLM
    for item_id, answer, refined_answer, refined, rationales, facet_raw, usage in results:
        assert queries[item_id].strip()
        assert answer.strip() and refined_answer.strip()
        parsed = json.loads(rationales)
        assert set(parsed) == {"decision", "communication", "safety"}
        for facet, info in json.loads(facet_raw).items():
            assert info["parse_error"] is None, (facet, info["raw"][:300])
            assert all(line.lower().startswith("we should") for line in parsed[facet])
        calls = json.loads(usage)["calls"]
        assert {c["node"] for c in calls} >= {"generate", "eval_decision", "eval_communication", "eval_safety"}
        assert bool(refined) == any(parsed.values())
        assert all(c["completion_tokens"] > 0 for c in calls)

    assert f"Next: python -m training.data --db {db} --stage sr" in proc.stderr

    trace = subprocess.run([sys.executable, "-m", "graph.trace", "--db", str(db), "--id", str(results[0][0])],
                           capture_output=True, text=True, timeout=60)
    assert trace.returncode == 0 and "generate" in trace.stdout and "filter" in trace.stdout

    out = tmp_path / "sr"
    built = subprocess.run([sys.executable, "-m", "training.data", "--db", str(db), "--stage", "sr", "--out", str(out)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    written = [json.loads(line) for name in ("train.jsonl", "validation.jsonl")
               for line in (out / name).read_text().splitlines()]
    assert 6 <= len(written) <= len(kept)
    assert all(r["messages"][-1]["role"] == "assistant" and r["messages"][-1]["content"].strip() for r in written)

    assert not listening(port)
