"""The dataset builder end to end on real SQLite stores written by the fixture."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from training_store import long_answer, store_rows, write_store

from state.errors import InputError
from training.data import build_dataset, iter_chat_records

Make = Callable[..., Path]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def messy_rows() -> list[dict]:
    """12 good rows plus one of each case the builder must drop."""
    rows = store_rows(12)
    rows[1]["t_kept"], rows[1]["t_filter_reason"] = 0, "teacher_refused"
    rows[2]["t_answer"] = "Too short to help."
    rows[3]["t_answer"] = "<think> I keep thinking and never answer"
    rows[4]["t_answer"] = rows[0]["t_answer"]
    rows[4]["query"] = rows[0]["query"].upper()  # same query up to case: a duplicate of row 1
    rows[5]["kept"], rows[5]["filter_reason"] = 0, "short"
    return rows


def test_kd_dataset_filters_dedups_and_cards(make_store: Make, tmp_path: Path) -> None:
    store = make_store(messy_rows())
    card = build_dataset(store, "kd", tmp_path / "kd", validation_fraction=0.25)
    records = read_jsonl(tmp_path / "kd" / "train.jsonl") + read_jsonl(tmp_path / "kd" / "validation.jsonl")
    assert sorted(r["id"] for r in records) == [1, 6, 7, 8, 9, 10, 11, 12]
    assert card["counts"] == {
        "scanned": 12,
        "written": 8,
        "train": card["counts"]["train"],
        "validation": card["counts"]["validation"],
    }
    assert card["counts"]["train"] + card["counts"]["validation"] == 8
    assert card["dropped"] == {"duplicate": 1, "no_answer": 1, "too_short": 1, "store:teacher_refused": 1}
    assert card["store_runs"] == ["run-test"]
    assert card["length_words"]["answer"]["p5"] >= 50
    saved = json.loads((tmp_path / "kd" / "data_card.json").read_text())
    assert saved == card
    first = next(r for r in records if r["id"] == 1)
    user, assistant = first["messages"]
    assert user == {"role": "user", "content": store_rows(1)[0]["query"]}
    assert assistant["role"] == "assistant"
    assert assistant["content"].startswith("<think>\nThe user reports cough")
    assert assistant["content"].endswith(long_answer("a persistent dry cough"))


def test_sr_dataset_uses_refined_reasoning_and_answer(make_store: Make, tmp_path: Path) -> None:
    rows = store_rows(4)
    rows[2].update(refined=0, refined_reasoning=None, refined_answer=None)  # refiner skipped: r' = r0
    card = build_dataset(make_store(rows), "sr", tmp_path / "sr", validation_fraction=0.0)
    records = {r["id"]: r for r in read_jsonl(tmp_path / "sr" / "train.jsonl")}
    assert card["counts"]["written"] == 4 and card["dropped"] == {}
    content = records[1]["messages"][1]["content"]
    assert content == f"<think>\n{rows[0]['refined_reasoning']}\n</think>\n\n{rows[0]['refined_answer']}"
    skipped = records[3]["messages"][1]["content"]
    assert skipped == f"<think>\n{rows[2]['reasoning']}\n</think>\n\n{rows[2]['answer']}"
    assert card["source_table"] == "results"


def test_split_is_deterministic_and_stable_as_the_store_grows(tmp_path: Path) -> None:
    small = write_store(tmp_path / "small.sqlite", store_rows(12))
    build_dataset(small, "kd", tmp_path / "a", 0.3)
    build_dataset(small, "kd", tmp_path / "b", 0.3)
    for name in ("train.jsonl", "validation.jsonl", "data_card.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    big = write_store(tmp_path / "big.sqlite", store_rows(40))
    build_dataset(big, "kd", tmp_path / "c", 0.3)
    small_val = {r["id"] for r in read_jsonl(tmp_path / "a" / "validation.jsonl")}
    big_val = {r["id"] for r in read_jsonl(tmp_path / "c" / "validation.jsonl")}
    assert small_val and small_val == {i for i in big_val if i <= 12}


def test_iter_chat_records_streams_and_matches_the_files(make_store: Make, tmp_path: Path) -> None:
    store = make_store(messy_rows())
    stream = iter_chat_records(store, "kd")
    first = next(stream)
    assert first["id"] == 1 and [m["role"] for m in first["messages"]] == ["user", "assistant"]
    built = build_dataset(store, "kd", tmp_path / "kd", 0.0)
    assert 1 + sum(1 for _ in stream) == built["counts"]["written"]


def test_iter_chat_records_raises_for_a_stage_without_kept_rows(make_store: Make) -> None:
    rows = store_rows(3)
    for row in rows:
        row["kept"], row["filter_reason"] = 0, "short"
    with pytest.raises(InputError, match="no kept row"):
        list(iter_chat_records(make_store(rows), "sr"))


def test_data_module_does_not_import_training_frameworks() -> None:
    code = (
        "import sys, training.data; heavy = {'torch', 'transformers', 'trl', 'datasets', 'deepspeed'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def run_data_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "training.data", *args], capture_output=True, text=True)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_cli_builds_both_stages(make_store: Make, tmp_path: Path) -> None:
    store = make_store()
    for stage in ("kd", "sr"):
        proc = run_data_cli("--db", str(store), "--stage", stage, "--out", str(tmp_path / stage))
        assert proc.returncode == 0, proc.stderr
        assert json.loads((tmp_path / stage / "data_card.json").read_text())["counts"]["written"] == 12


def test_cli_bad_stores_fail_in_one_line(make_store: Make, tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    assert_one_line_error(
        run_data_cli("--db", str(tmp_path / "missing.sqlite"), "--stage", "kd", "--out", out),
        "store not found",
        "missing.sqlite",
    )
    assert not (tmp_path / "missing.sqlite").exists()  # opening read-only never creates the file
    (tmp_path / "empty.sqlite").write_bytes(b"")
    assert_one_line_error(
        run_data_cli("--db", str(tmp_path / "empty.sqlite"), "--stage", "kd", "--out", out), "empty"
    )
    (tmp_path / "text.sqlite").write_text("not a database at all, just text " * 40)
    assert_one_line_error(
        run_data_cli("--db", str(tmp_path / "text.sqlite"), "--stage", "kd", "--out", out),
        "not a SQLite database",
    )
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT)")
    assert_one_line_error(
        run_data_cli("--db", str(foreign), "--stage", "kd", "--out", out), "not a MuSeR store"
    )


def test_cli_stage_problems_fail_in_one_line(make_store: Make, tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    no_teacher = make_store(name="no-teacher.sqlite", teacher=False)
    assert_one_line_error(
        run_data_cli("--db", str(no_teacher), "--stage", "kd", "--out", out), "no `teacher` table", "stage kd"
    )
    empty_stage = make_store(rows=[], name="no-rows.sqlite")
    assert_one_line_error(
        run_data_cli("--db", str(empty_stage), "--stage", "sr", "--out", out), "no rows in `results`"
    )
    rows = store_rows(3)
    for row in rows:
        row["t_kept"], row["t_filter_reason"] = 0, "refusal"
    none_kept = make_store(rows=rows, name="none-kept.sqlite")
    assert_one_line_error(
        run_data_cli("--db", str(none_kept), "--stage", "kd", "--out", out),
        "nothing to train on",
        "store:refusal=3",
    )
    assert not (tmp_path / "out" / "train.jsonl").exists()


def test_iter_chat_records_rejects_bad_stage_and_missing_store(make_store: Make, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown stage 'rl'"):
        next(iter_chat_records(make_store(), "rl"))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="store not found"):
        next(iter_chat_records(tmp_path / "absent.sqlite", "kd"))
