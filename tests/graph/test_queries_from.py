"""graph.run --queries-from and graph.export --what initial|refined against the stub: given queries keep their
prompt_id, multi-turn rows are skipped and counted, resume after kill -9, misuse refused in one line, and
training.data never trains on a HealthBench store. Every row here is self-written (no HealthBench item)."""

from __future__ import annotations

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
from storekit import RULES, accounted, cli, digest, one_line_error, rows
from stub_server import StubServer

from graph.queries.source import HEALTHBENCH, PLAIN, parse_source
from graph.store.db import StoreError

RUBRIC = [{"criterion": "Says to see a doctor.", "points": 5, "tags": ["axis:accuracy"]}]


def hb_row(prompt_id: str, *turns: str) -> dict[str, Any]:
    """A self-written row in HealthBench's schema; turns alternate user / assistant."""
    prompt = [{"role": ("user", "assistant")[i % 2], "content": text} for i, text in enumerate(turns)]
    return {"prompt_id": prompt_id, "prompt": prompt, "rubrics": RUBRIC, "example_tags": ["theme:hedging"]}


def hb_file(path: Path, n_single: int = 3, n_multi: int = 2) -> Path:
    """Single-turn rows s0…, interleaved with multi-turn rows m0… (which the graph skips)."""
    lines = []
    for i in range(max(n_single, n_multi)):
        if i < n_single:
            lines.append(hb_row(f"s{i}", f"My child has had a fever for {i + 2} days. What should I do?"))
        if i < n_multi:
            lines.append(hb_row(f"m{i}", "I have a cough.", "How long has it lasted?", "A week."))
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    return path


def run_args(stub: StubServer, db: Path, source: Path, *extra: str) -> list[str]:
    return ["graph.run", "--queries-from", str(source), "--db", str(db), "--base-url", stub.url, *extra]


# -- the loader, pure --------------------------------------------------------------------------------------
def test_healthbench_rows_keep_prompt_ids_and_count_multi_turn(tmp_path: Path) -> None:
    source = parse_source(hb_file(tmp_path / "hb.jsonl").read_bytes(), "hb.jsonl")
    assert source.kind == HEALTHBENCH and source.prompt_ids == ("s0", "s1", "s2") and source.multi_turn == 2
    assert source.queries[1] == "My child has had a fever for 3 days. What should I do?"
    assert source.attributes(2) == {"source": HEALTHBENCH, "prompt_id": "s2"}
    assert parse_source(hb_file(tmp_path / "hb.jsonl").read_bytes(), "hb.jsonl", limit=2).prompt_ids == ("s0", "s1")


def test_plain_query_lines() -> None:
    source = parse_source(b'{"query": "Is ibuprofen safe?"}\n\n{"query": "Dose?", "prompt_id": "q9"}\n', "q.jsonl")
    assert source.kind == PLAIN and source.prompt_ids == ("line-1", "q9") and source.multi_turn == 0


@pytest.mark.parametrize(("data", "needle"), [
    (b'{"query": "a"}\n{"prompt_id": "x", "prompt": [{"role": "user", "content": "b"}]}\n', "line 2: mixes"),
    (b'{"query": "a"}\nnot json\n', "line 2: not a UTF-8 JSON object"),
    (b'{"query": ""}\n', 'line 1: "query" must be a non-empty string'),
    (b'{"query": "a", "prompt_id": "x"}\n{"query": "b", "prompt_id": "x"}\n', "'x' already used on line 1"),
    (b'{"prompt_id": "x", "prompt": [{"role": "system", "content": "b"}]}\n', "must be a user turn"),
    (json.dumps(hb_row("m", "a", "b", "c")).encode(), "all 1 rows are multi-turn"),
    (b"", "holds no single-turn query"),
])
def test_bad_files_are_refused_naming_the_line(data: bytes, needle: str) -> None:
    with pytest.raises(StoreError) as info:
        parse_source(data, "f.jsonl")
    assert needle in str(info.value) and "\n" not in str(info.value)


# -- graph.run and graph.export on the stub ---------------------------------------------------------------
def test_run_export_trace_and_refusals(stub: StubServer, tmp_path: Path) -> None:
    stub.rules = list(RULES)
    source, db = hb_file(tmp_path / "hb.jsonl"), tmp_path / "hb.sqlite"
    proc = cli(*run_args(stub, db, source), check=True)
    assert "queries: 3 from" in proc.stderr and "2 multi-turn rows skipped" in proc.stderr
    accounted(db, 3)
    stored = rows(db, "SELECT id, json_extract(attributes, '$.prompt_id'), query FROM queries ORDER BY id")
    assert [(i, p) for i, p, _ in stored] == [(0, "s0"), (1, "s1"), (2, "s2")]
    asked = [m["content"] for body in stub.requests for m in body["messages"] if m["role"] == "user"]
    assert all(q in asked for _, _, q in stored), "the graph must answer the given queries, not generated ones"
    assert not any("Write one question" in text for text in asked)

    out = {what: tmp_path / f"{what}.jsonl" for what in ("initial", "refined")}
    for what, path in out.items():
        done = cli("graph.export", "--db", str(db), "--what", what, "--out", str(path), check=True)
        assert f"wrote 3 {what} records" in done.stderr
    initial = [json.loads(line) for line in out["initial"].read_text().splitlines()]
    refined = [json.loads(line) for line in out["refined"].read_text().splitlines()]
    assert [r["prompt_id"] for r in initial] == [r["prompt_id"] for r in refined] == ["s0", "s1", "s2"]
    answers = dict(rows(db, "SELECT id, answer FROM results"))
    assert [r["response"] for r in initial] == [answers[i] for i in range(3)]
    assert all(r["response"].startswith("Revised answer.") and "note" not in r for r in refined)

    trace = cli("graph.trace", "--db", str(db), "--id", "1", check=True)
    assert "s1" in trace.stdout
    report = cli("graph.report", "--db", str(db), "--out", str(tmp_path / "report"), "--no-plots", check=True)
    assert "Traceback" not in report.stderr and any((tmp_path / "report").iterdir())
    resumed = cli(*run_args(stub, db, source), check=True)  # nothing pending: a no-op
    assert "0 failures" in resumed.stderr and rows(db, "SELECT count(*) FROM results")[0][0] == 3
    other = hb_file(tmp_path / "other.jsonl", n_single=4)
    one_line_error(cli(*run_args(stub, db, other)), "holds 3 queries from")
    assert rows(db, "SELECT count(*) FROM queries")[0][0] == 3

    generated = tmp_path / "gen.sqlite"
    cli("graph.run", "--n", "2", "--db", str(generated), "--base-url", stub.url, check=True)
    snapshot = digest(generated)
    one_line_error(cli(*run_args(stub, generated, source)), "holds a run of generated queries")
    one_line_error(cli("graph.export", "--db", str(generated), "--what", "refined", "--out", str(tmp_path / "x.jsonl")),
                   "holds generated queries")
    assert digest(generated) == snapshot and not (tmp_path / "x.jsonl").exists()

    refused = subprocess.run([sys.executable, "-m", "training.data", "--db", str(db), "--stage", "sr",
                              "--out", str(tmp_path / "data")], capture_output=True, text=True, timeout=120)
    one_line_error(refused, "evaluation data must never be trained on")
    assert not (tmp_path / "data" / "train.jsonl").exists()


def test_shards_merge_and_export_in_order(stub: StubServer, tmp_path: Path) -> None:
    stub.rules = list(RULES)
    source = hb_file(tmp_path / "hb.jsonl", n_single=5, n_multi=1)
    shards = [tmp_path / f"s{i}.sqlite" for i in range(2)]
    for i, db in enumerate(shards):
        cli(*run_args(stub, db, source, "--shard", f"{i}/2"), check=True)
    assert rows(shards[1], "SELECT json_extract(attributes, '$.prompt_id') FROM queries ORDER BY id") == [("s1",), ("s3",)]
    merged = tmp_path / "all.sqlite"
    cli("graph.merge", *map(str, shards), "-o", str(merged), check=True)
    cli("graph.export", "--db", str(merged), "--what", "refined", "--out", str(tmp_path / "r.jsonl"), check=True)
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [r["prompt_id"] for r in lines] == ["s0", "s1", "s2", "s3", "s4"]
    refused = subprocess.run([sys.executable, "-m", "training.data", "--db", str(merged), "--stage", "sr", "--out",
                              str(tmp_path / "data")], capture_output=True, text=True, timeout=120)
    one_line_error(refused, "evaluation data must never be trained on")  # merged: no meta, the attributes say it
    snapshot = digest(shards[0])
    one_line_error(cli("graph.queries", "--db", str(shards[0]), "--n", "5", "--base-url", stub.url),
                   "holds queries given with graph.run --queries-from")
    assert digest(shards[0]) == snapshot


def test_failed_and_unrefined_examples_are_written_with_notes(stub: StubServer, tmp_path: Path) -> None:
    stub.rules = [("fever for 3 days", (400, "scripted refusal")), ("Context to check", "N/A"),
                  ("pitched its answer", "N/A"), ("Perspectives to check", "N/A")]
    source, db = hb_file(tmp_path / "hb.jsonl"), tmp_path / "hb.sqlite"
    cli(*run_args(stub, db, source), check=True)
    assert rows(db, "SELECT id FROM failures") == [(1,)]
    done = cli("graph.export", "--db", str(db), "--what", "refined", "--out", str(tmp_path / "r.jsonl"), check=True)
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [r["prompt_id"] for r in lines] == ["s0", "s1", "s2"], "no example may be dropped"
    by_id = {r["prompt_id"]: r for r in lines}
    unrefined = [p for p, r in by_id.items() if "r0 stands in" in r.get("note", "")]
    assert unrefined and f"{len(unrefined)} not refined" in done.stderr
    assert by_id["s1"]["response"] == "" and "the graph failed" in by_id["s1"]["note"]
    assert "1 failed graphs written as empty responses" in done.stderr
    assert sorted(unrefined) == ["s0", "s2"] and by_id["s0"]["response"] == rows(db, "SELECT answer FROM results "
                                                                                  "WHERE id = 0")[0][0]


def test_resume_after_kill_9(tmp_path: Path) -> None:
    stub = StubServer(rules=list(RULES), record=False, latency_ms=40).start()
    try:
        source = tmp_path / "q.jsonl"
        source.write_text("".join(json.dumps({"query": f"Question {i} about a rash?", "prompt_id": f"p{i}"}) + "\n"
                                  for i in range(400)), encoding="utf-8")
        db = tmp_path / "kill.sqlite"
        cmd = [sys.executable, "-m", *run_args(stub, db, source, "--concurrency", "16")]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline, stored = time.time() + 60, 0
        while time.time() < deadline and stored < 40:
            time.sleep(0.3)
            try:
                stored = rows(db, "SELECT count(*) FROM results")[0][0] if db.exists() else 0
            except sqlite3.OperationalError:
                stored = 0
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert 0 < stored < 400, "the run must be killed mid-way"
        snapshot = dict(rows(db, "SELECT id, latency_ms FROM results"))
        one_line_error(cli("graph.export", "--db", str(db), "--what", "initial", "--out", str(tmp_path / "r.jsonl")),
                       "queries have no outcome yet")
        cli("graph.run", "--db", str(db), "--concurrency", "64", check=True, timeout=180)
        accounted(db, 400)
        after = dict(rows(db, "SELECT id, latency_ms FROM results"))
        assert all(after[i] == lat for i, lat in snapshot.items()), "an already stored id was redone"
        ids = rows(db, "SELECT id, json_extract(attributes, '$.prompt_id') FROM queries ORDER BY id")
        assert ids == [(i, f"p{i}") for i in range(400)]
    finally:
        stub.stop()
