"""graph.run end to end against real stub servers: resume after kill -9, faults, shards, merge, export."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from storekit import rows
from stub_server import Faults, StubServer

REVISED = ("Please keep the child hydrated with small, frequent sips. Watch for warning signs such as "
           "unusual sleepiness, fast breathing or a rash that does not fade. Paracetamol at the dose for her weight "
           "can ease the discomfort. See a doctor today if the fever lasts beyond three days or she drinks much "
           "less than usual.")  # varied sentences: a repeated one is a loop the gate drops
RULES = [
    ("Context to check", "1. We should ask the user about their age.\n2. We should ask about current medicines."),
    ("pitched its answer", "N/A"),
    ("Perspectives to check", "We should tell the user to seek urgent care if breathing becomes difficult."),
    ("Your reflection", "Revised answer. " + REVISED),
]


def run(*args: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


def accounted(db: Path, n: int) -> None:
    """Every id 0..n-1 is in exactly one of results or failures."""
    results = {r[0] for r in rows(db, "SELECT id FROM results")}
    failures = {r[0] for r in rows(db, "SELECT id FROM failures")}
    assert not results & failures
    assert results | failures == set(range(n))


@pytest.fixture
def server() -> StubServer:
    stub = StubServer(rules=list(RULES), record=False).start()
    yield stub
    stub.stop()


def write_config(tmp_path: Path, **endpoint: object) -> Path:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(json.dumps({"endpoint": endpoint}))  # JSON is valid YAML
    return cfg


def test_run_stores_every_id_and_resume_is_a_noop(server: StubServer, tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    proc = run("graph.run", "--n", "40", "--db", str(db), "--base-url", server.url, "--concurrency", "8", check=True)
    assert "stored: 40 results" in proc.stderr
    accounted(db, 40)
    kept = rows(db, "SELECT count(*) FROM results WHERE kept = 1")[0][0]
    assert kept == 40
    (run_row,) = rows(db, "SELECT seed, n, shard, config FROM runs")
    assert run_row[:3] == (0, 40, "")
    assert json.loads(run_row[3])["refiner"] == "directref"
    before = server.count
    run("graph.run", "--db", str(db), check=True)  # resume with only --db: nothing left to do
    assert server.count == before  # no completion requested again


def test_kill_9_then_resume_completes_without_redoing(tmp_path: Path) -> None:
    stub = StubServer(rules=list(RULES), record=False, latency_ms=40).start()
    try:
        db = tmp_path / "kill.sqlite"
        n = 1500
        cmd = [sys.executable, "-m", "graph.run", "--n", str(n), "--db", str(db), "--base-url", stub.url,
               "--concurrency", "32"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        stored = 0
        while time.time() < deadline and stored < 150:
            time.sleep(0.3)
            if db.exists():
                try:
                    stored = rows(db, "SELECT count(*) FROM results")[0][0]
                except sqlite3.OperationalError:
                    stored = 0
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert 0 < stored < n, "the run must be killed mid-way"
        snapshot = dict(rows(db, "SELECT id, latency_ms FROM results"))
        run("graph.run", "--db", str(db), "--concurrency", "64", check=True, timeout=180)
        accounted(db, n)
        after = dict(rows(db, "SELECT id, latency_ms FROM results"))
        assert all(after[i] == lat for i, lat in snapshot.items()), "an already stored id was redone"
        queries = rows(db, "SELECT count(*), count(DISTINCT id) FROM queries")[0]
        assert queries[0] == queries[1] == n
    finally:
        stub.stop()


def test_faults_every_id_accounted_and_retry_failed(tmp_path: Path) -> None:
    faults = Faults(status_500=0.08, status_429=0.05, hang=0.03, drop=0.04, malformed=0.05, seed=7)
    stub = StubServer(rules=list(RULES), record=False, faults=faults).start()
    try:
        db = tmp_path / "faults.sqlite"
        cfg = write_config(tmp_path, timeout_s=1.0, max_retries=1, backoff_base_s=0.01, backoff_max_s=0.05,
                           eject_after=1000)
        proc = run("graph.run", "--n", "120", "--db", str(db), "--base-url", stub.url, "--config", str(cfg),
                   "--concurrency", "32", timeout=180)
        assert proc.returncode == 0, proc.stderr[-1500:]
        accounted(db, 120)
        failures = rows(db, "SELECT stage, error_class, attempts FROM failures")
        assert failures, "with these fault rates and one retry some ids must fail"
        assert {f[1] for f in failures} <= {"http", "timeout", "connection", "malformed"}
        assert all(f[2] == 2 for f in failures)
        stub.faults = Faults()
        stub._rng.seed(0)
        run("graph.run", "--db", str(db), "--config", str(cfg), "--retry-failed", check=True, timeout=180)
        accounted(db, 120)
        assert rows(db, "SELECT count(*) FROM failures")[0][0] == 0
    finally:
        stub.stop()


def test_an_outage_of_malformed_bodies_is_labelled_malformed(tmp_path: Path, server: StubServer) -> None:
    cfg = write_config(tmp_path, max_retries=2, backoff_base_s=0.01, eject_after=2, probe_after_s=0.2,
                       all_down_after_s=1.0)
    server.faults = Faults(malformed=1.0)
    proc = run("graph.run", "--n", "20", "--db", str(tmp_path / "m.sqlite"), "--base-url", server.url, "--config",
               str(cfg), "--concurrency", "4")
    last = proc.stderr.splitlines()[-1]
    assert proc.returncode == 3 and last.startswith("error: run stopped: malformed"), last
    assert "the last error: malformed 200: unparseable completion body" in last


def test_every_endpoint_down_stops_cleanly(tmp_path: Path, server: StubServer) -> None:
    db = tmp_path / "down.sqlite"
    cfg = write_config(tmp_path, max_retries=2, backoff_base_s=0.01, eject_after=2, probe_after_s=0.2,
                       all_down_after_s=1.0)
    server.faults = Faults(status_500=1.0)  # /models answers, every completion fails
    proc = run("graph.run", "--n", "50", "--db", str(db), "--base-url", server.url, "--config", str(cfg),
               "--concurrency", "8")
    assert proc.returncode == 3, proc.stderr[-1500:]
    assert "every endpoint has been failing" in proc.stderr.splitlines()[-1]
    assert proc.stderr.splitlines()[-1].startswith("error: run stopped: http 500"), proc.stderr.splitlines()[-1]
    failed = rows(db, "SELECT count(*) FROM failures")[0][0]
    assert failed < 10, "a dead fleet must stop the run, not fail every query"
    server.faults = Faults()
    run("graph.run", "--db", str(db), "--retry-failed", check=True)
    run("graph.run", "--db", str(db), check=True)
    accounted(db, 50)
    assert rows(db, "SELECT count(*) FROM failures")[0][0] == 0


def test_shards_merge_to_the_single_run(server: StubServer, tmp_path: Path) -> None:
    single, merged = tmp_path / "single.sqlite", tmp_path / "merged.sqlite"
    run("graph.run", "--n", "30", "--db", str(single), "--base-url", server.url, check=True)
    shards = [tmp_path / f"shard{i}.sqlite" for i in range(3)]
    for i, path in enumerate(shards):
        run("graph.run", "--n", "30", "--db", str(path), "--base-url", server.url, "--shard", f"{i}/3", check=True)
        ids = {r[0] for r in rows(path, "SELECT id FROM results")}
        assert ids == set(range(i, 30, 3))
    run("graph.merge", *map(str, shards), "-o", str(merged), check=True)
    cols = "id, reasoning, answer, rationales, refined_reasoning, refined_answer, refined, kept, filter_reason"
    for sql in (f"SELECT {cols} FROM results ORDER BY id", "SELECT * FROM queries ORDER BY id",
                "SELECT * FROM failures ORDER BY id", "SELECT seed, n, shard, config FROM runs"):
        assert rows(merged, sql) == rows(single, sql)
    again = run("graph.merge", *map(str, shards[:2]), str(shards[0]), "-o", str(tmp_path / "dup.sqlite"))
    assert again.returncode == 2 and "repeats shard" in again.stderr


def test_config_mismatch_refused_unless_force(server: StubServer, tmp_path: Path) -> None:
    db = tmp_path / "cfg.sqlite"
    run("graph.run", "--n", "5", "--db", str(db), "--base-url", server.url, check=True)
    proc = run("graph.run", "--db", str(db), "--refiner", "contgen")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "refiner" in proc.stderr and "--force" in proc.stderr
    proc = run("graph.run", "--db", str(db), "--n", "8", "--refiner", "contgen", "--force")
    assert proc.returncode == 0, proc.stderr
    accounted(db, 8)


@pytest.mark.parametrize("content", [b"not a database at all" * 10, b""])
def test_foreign_or_corrupt_store_is_refused_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "foreign.sqlite"
    if content:
        path.write_bytes(content)
    else:
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE users (name TEXT)")
        conn.execute("INSERT INTO users VALUES ('ada')")
        conn.commit()
        conn.close()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    proc = run("graph.run", "--n", "3", "--db", str(path), "--base-url", "http://127.0.0.1:9/v1")
    assert proc.returncode == 2 and proc.stderr.startswith("error:") and "Traceback" not in proc.stderr
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_workers_share_one_store(server: StubServer, tmp_path: Path) -> None:
    db = tmp_path / "workers.sqlite"
    run("graph.run", "--n", "60", "--db", str(db), "--base-url", server.url, "--workers", "2", check=True)
    accounted(db, 60)


def test_export_writes_chat_records(server: StubServer, tmp_path: Path) -> None:
    db, out = tmp_path / "exp.sqlite", tmp_path / "sr.jsonl"
    run("graph.run", "--n", "4", "--db", str(db), "--base-url", server.url, check=True)
    run("graph.export", "--db", str(db), "--what", "sr", "--out", str(out), check=True)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records
    for rec in records:
        user, assistant = rec["messages"]
        assert user["role"] == "user" and assistant["role"] == "assistant"
        assert assistant["content"].startswith("<think>") and "</think>" in assistant["content"]
    proc = run("graph.export", "--db", str(db), "--what", "kd", "--out", str(tmp_path / "kd.jsonl"))
    assert proc.returncode == 2 and "teacher" in proc.stderr


def test_bad_arguments_fail_with_one_line(tmp_path: Path) -> None:
    for args in (["--n", "-1"], ["--n", "3", "--shard", "5/3"], ["--n", "3", "--shard", "x"], []):
        proc = run("graph.run", "--db", str(tmp_path / "new.sqlite"), *args, "--base-url", "http://127.0.0.1:9/v1")
        assert proc.returncode == 2, args
        assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error:"), proc.stderr


def test_pregenerated_queries_are_used_by_the_run(server: StubServer, tmp_path: Path) -> None:
    db = tmp_path / "pre.sqlite"
    server.rules.insert(0, ("Constraints:", "How long should a fever last in a toddler before I see a doctor?"))
    run("graph.queries", "--n", "5", "--seed", "3", "--base-url", server.url, "--db", str(db), check=True)
    stored = dict(rows(db, "SELECT id, query FROM queries"))
    assert sorted(stored) == [0, 1, 2, 3, 4]
    server.rules.pop(0)  # the run must not generate the queries again
    run("graph.run", "--n", "5", "--seed", "3", "--db", str(db), "--base-url", server.url, check=True)
    accounted(db, 5)
    assert dict(rows(db, "SELECT id, query FROM queries")) == stored


def test_teacher_answers_are_stored_for_distillation(server: StubServer, tmp_path: Path) -> None:
    teacher = StubServer(models=["teacher-model"], record=False,
                         default={"content": "Teacher answer. " + REVISED,
                                  "reasoning_content": "The child is three; fever for two days."}).start()
    try:
        db, out = tmp_path / "kd.sqlite", tmp_path / "kd.jsonl"
        run("graph.run", "--n", "6", "--db", str(db), "--base-url", server.url,
            "--teacher-base-url", teacher.url, check=True)
        stored = rows(db, "SELECT id, reasoning, answer, kept FROM teacher ORDER BY id")
        assert [r[0] for r in stored] == list(range(6))
        assert all(r[1] == "The child is three; fever for two days." and r[3] == 1 for r in stored)
        assert teacher.count == 6
        run("graph.export", "--db", str(db), "--what", "kd", "--out", str(out), check=True)
        record = json.loads(out.read_text().splitlines()[0])
        assert record["messages"][1]["content"].startswith("<think>\nThe child is three")
    finally:
        teacher.stop()
