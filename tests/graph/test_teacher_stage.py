"""The teacher as a stage on any store: added after the run, resumed after kill -9, two teachers side by side."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from storekit import RULES, cli, count, env, one_line_error, rows, wait_for
from stub_server import StubServer

UNTOUCHED = ("runs", "queries", "results", "failures")


@pytest.fixture
def teachers() -> dict[str, StubServer]:
    """Two teacher servers serving differently named models."""
    out = {name: StubServer(models=[name], record=False).start() for name in ("teacher-a", "teacher-b")}
    yield out
    for server in out.values():
        server.stop()


def dump(db: Path) -> dict[str, list[tuple]]:
    """Every row of the tables the teacher stage must leave alone, in id order."""
    return {table: rows(db, f"SELECT * FROM {table} ORDER BY 1") for table in UNTOUCHED}


def finished_store(db: Path, url: str, n: int) -> None:
    cli("graph.run", "--n", str(n), "--db", str(db), "--base-url", url, "--concurrency", "16", check=True)
    assert count(db, "results") == n and count(db, "teacher") == 0


def test_teacher_added_to_a_finished_store_then_a_second_teacher(stub: StubServer, tmp_path: Path,
                                                                 teachers: dict[str, StubServer]) -> None:
    stub.rules, stub.record = list(RULES), False
    db = tmp_path / "run.sqlite"
    finished_store(db, stub.url, 12)
    before = dump(db)
    proc = cli("graph.run", "--db", str(db), "--teacher-base-url", teachers["teacher-a"].url, check=True)
    assert "teacher stage: teacher-a answers 12 of the 12 stored queries" in proc.stderr
    assert rows(db, "SELECT teacher, count(*), sum(kept) FROM teacher GROUP BY 1") == [("teacher-a", 12, 12)]
    assert dump(db) == before  # runs, queries, results, failures: byte for byte the same
    again = cli("graph.run", "--db", str(db), "--teacher-base-url", teachers["teacher-a"].url, check=True)
    assert "answers 0 of the 12" in again.stderr  # nothing left for that teacher

    cli("graph.run", "--db", str(db), "--teacher-base-url", teachers["teacher-b"].url, "--teacher-model", "teacher-b",
        check=True)
    assert rows(db, "SELECT teacher, count(*) FROM teacher GROUP BY 1") == [("teacher-a", 12), ("teacher-b", 12)]
    assert dump(db) == before
    (who,) = rows(db, "SELECT model, base_urls, sampling FROM teachers WHERE teacher = 'teacher-b'")
    assert who[0] == "teacher-b" and json.loads(who[1]) == [teachers["teacher-b"].url]
    assert json.loads(who[2])["temperature"] == 0.6

    one_line_error(cli("training.data", "--db", str(db), "--stage", "kd", "--out", str(tmp_path / "kd")),
                   "pick one with --teacher")
    assert not (tmp_path / "kd").exists()
    cli("training.data", "--db", str(db), "--stage", "kd", "--teacher", "teacher-b", "--out", str(tmp_path / "kd"),
        check=True)
    card = json.loads((tmp_path / "kd" / "data_card.json").read_text())
    assert card["teacher"] == "teacher-b" and card["counts"]["scanned"] == 12
    one_line_error(cli("training.data", "--db", str(db), "--stage", "kd", "--teacher", "nobody", "--out",
                       str(tmp_path / "kd2")), "no answers from teacher 'nobody'")


def test_teacher_stage_resumes_after_kill_9(stub: StubServer, tmp_path: Path) -> None:
    stub.rules, stub.record = list(RULES), False
    db = tmp_path / "run.sqlite"
    n = 200
    finished_store(db, stub.url, n)
    before = dump(db)
    teacher = StubServer(models=["slow-teacher"], record=False, latency_ms=60).start()
    try:
        cmd = [sys.executable, "-m", "graph.run", "--db", str(db), "--teacher-base-url", teacher.url,
               "--concurrency", "4"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
        wait_for("some teacher rows", lambda: count(db, "teacher") >= 20, timeout=60)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        stored = dict(rows(db, "SELECT id, latency_ms FROM teacher"))
        assert 0 < len(stored) < n, "the stage must be killed mid-way"
        asked = teacher.count
        cli("graph.run", "--db", str(db), "--teacher-base-url", teacher.url, "--concurrency", "16", check=True,
            timeout=120)
        assert teacher.count - asked == n - len(stored)  # only the unanswered ids are asked again
        assert rows(db, "SELECT count(*), count(DISTINCT id) FROM teacher") == [(n, n)]
        after = dict(rows(db, "SELECT id, latency_ms FROM teacher"))
        assert all(after[i] == lat for i, lat in stored.items()), "an answered id was asked again"
        assert dump(db) == before
    finally:
        teacher.stop()


def test_teacher_stage_is_locked_like_any_run(stub: StubServer, tmp_path: Path) -> None:
    stub.rules, stub.record = list(RULES), False
    db = tmp_path / "run.sqlite"
    finished_store(db, stub.url, 4)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from graph.store.owner import owned\n"
        f"with owned(Path({str(db)!r}), 'holder'):\n    print('held', flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True, env=env(PYTHONPATH=os.getcwd()))
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        one_line_error(cli("graph.run", "--db", str(db), "--teacher-base-url", stub.url), "holder")
        assert count(db, "teacher") == 0
    finally:
        holder.kill()
        holder.wait()


def test_version_1_store_is_read_and_upgraded(stub: StubServer, tmp_path: Path, teachers: dict[str, StubServer]) -> None:
    """A store written before teachers were named: its rows belong to the run's configured teacher."""
    stub.rules, stub.record = list(RULES), False
    db = tmp_path / "old.sqlite"
    cli("graph.run", "--n", "6", "--db", str(db), "--base-url", stub.url, "--teacher-base-url",
        teachers["teacher-a"].url, "--teacher-model", "teacher-a", check=True)
    conn = sqlite3.connect(db)
    with conn:  # rewrite it as version 1 wrote it: teacher keyed by id, no teachers table
        conn.execute("CREATE TABLE t1 AS SELECT id, reasoning, answer, kept, filter_reason, usage, latency_ms FROM teacher")
        conn.execute("DROP TABLE teacher")
        conn.execute("DROP TABLE teachers")
        conn.execute("CREATE TABLE teacher (id INTEGER PRIMARY KEY, reasoning TEXT, answer TEXT, kept INTEGER, "
                     "filter_reason TEXT, usage TEXT, latency_ms FLOAT)")
        conn.execute("INSERT INTO teacher SELECT * FROM t1")
        conn.execute("DROP TABLE t1")
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.close()
    cli("training.data", "--db", str(db), "--stage", "kd", "--teacher", "teacher-a", "--out", str(tmp_path / "v1"),
        check=True)  # read-only, without upgrading
    assert rows(db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("1",)]
    cli("graph.run", "--db", str(db), "--teacher-base-url", teachers["teacher-b"].url, "--teacher-model", "teacher-b",
        check=True)
    assert rows(db, "SELECT teacher, count(*) FROM teacher GROUP BY 1") == [("teacher-a", 6), ("teacher-b", 6)]
    assert rows(db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("2",)]
