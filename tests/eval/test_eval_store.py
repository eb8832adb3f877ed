"""The evaluation store: round trips, failures cleared by success, and files it must refuse untouched."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from eval.batch.store import EvalStore, FailureRow, GradeRow, ResponseRow, StoreError, grade_key


def test_round_trip_and_failures(tmp_path: Path) -> None:
    store = EvalStore(tmp_path / "sub" / "s.sqlite")
    store.put_failure(FailureRow("policy", "p1", "p1", -1, "m", "http 500: boom", 5))
    store.put_response(ResponseRow("p1", "h1", "answer", "m", "policy", reasoning="thought"))
    store.put_failure(FailureRow("grade", grade_key("g", "f1"), "p1", 0, "g", "no usable grade", 4))
    store.put_grade(GradeRow("g", "f1", "p1", 0, True, "because", 1))
    store.put_grade(GradeRow("g2", "f1", "p1", 0, False, "other grader", 1))
    assert store.responses()["p1"].response == "answer"
    assert store.grades("g") == {"f1": (True, "because")}
    assert store.grades("g2") == {"f1": (False, "other grader")}
    assert store.db.execute("SELECT count(*) FROM failures").fetchone()[0] == 0
    run = store.start_run(data="mini.jsonl", subset="full", policy="m", grader="g", config={"n": None})
    store.finish_run(run, {"score": 0.5})
    store.close()
    reader = EvalStore(tmp_path / "sub" / "s.sqlite", create=False)
    assert [r["report"] for r in reader.finished_runs()] == [{"score": 0.5}]
    reader.close()


def _refused(path: Path, match: str) -> None:
    before = path.read_bytes()
    with pytest.raises(StoreError, match=match) as info:
        EvalStore(path)
    assert "\n" not in str(info.value) and "not changed" in str(info.value)
    assert path.read_bytes() == before


def test_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("these are my notes, not a database\n")
    _refused(path, "is not a SQLite file")


def test_refuses_a_corrupt_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + b"\x13" * 4000)
    _refused(path, "corrupt")


def test_refuses_a_foreign_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE results(id INTEGER PRIMARY KEY, answer TEXT)")
    conn.execute("INSERT INTO results VALUES (1, 'keep me')")
    conn.commit()
    conn.close()
    _refused(path, "belongs to something else")


def test_compare_mode_needs_an_existing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        EvalStore(tmp_path / "missing.sqlite", create=False)
    assert not (tmp_path / "missing.sqlite").exists()


def test_read_only_open_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    EvalStore(path).close()
    before = path.read_bytes()
    reader = EvalStore(path, create=False)
    assert reader.finished_runs() == []
    reader.close()
    assert path.read_bytes() == before
