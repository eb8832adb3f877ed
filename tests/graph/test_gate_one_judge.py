"""One gate, one verdict: a run with its own `min_answer_words` and `prompts_dir`, and `training.data` judging
that run's store again, drop the same records for the same reasons and keep the same ones, because the builder
reads both settings back from the store. Stores the run already judged are copied with every row marked
kept, so the builder's own verdicts are what is compared."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from storekit import cli, one_line_error, rows
from stub_server import StubServer

OWN = "Before you write, restate the Zephyr checklist in full, one numbered line for each of its seven steps."
REFINE = f"{OWN}\n\nQuestion: <<question>>\nEarlier answer: <<response>>\nNotes to apply: <<reflection>>\n\nWrite the improved answer.\n"
PACKAGED_ONLY = ("You are an experienced clinician. Below are a user's question, the answer you gave earlier, and the "
                 "notes you wrote when you reflected on that answer.")
SENTENCES = ("Swollen ankles after a new blood pressure tablet are a known side effect of amlodipine.",
             "Raise your legs when you sit and walk a little every hour.",
             "Cut down on salty food, which makes the body hold on to water.",
             "Do not stop the tablet on your own, since blood pressure can rise quickly.",
             "See your doctor this week to talk about a different medicine.",
             "Go to urgent care at once if one calf is hot, red and painful, or breathing becomes hard.")
CLEAN = " ".join(SENTENCES)  # 79 words


def words(n: int) -> str:
    return " ".join(CLEAN.split()[:n]).rstrip(",") + "."


# the query's first word → its refined answer r'
REFINED = {"Mild": words(25), "Medium": words(35), "Long": words(45), "Tiny": words(15),
           "Echoed": OWN + " " + words(40), "Packaged": PACKAGED_ONLY + " " + words(40)}
EXPECTED = {"Mild": None, "Medium": None, "Long": None, "Tiny": "too_short", "Echoed": "prompt_echo", "Packaged": None}


def store_of_a_run(tmp_path: Path) -> tuple[Path, Path]:
    """graph.run against the stub with min_answer_words 20 and a prompts_dir of its own refine template."""
    prompts = tmp_path / "my-prompts"
    prompts.mkdir()
    (prompts / "refine_directref.txt").write_text(REFINE, encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text("min_answer_words: 20\n", encoding="utf-8")
    queries = iter(f"{word} swelling of both ankles since my new tablet, what should I do about it?" for word in REFINED)

    def refine(body: dict[str, Any]) -> str:
        asked = json.dumps(body).split("Question: ", 1)[1].split(" ", 1)[0]
        return REFINED[asked]

    rules: list[tuple[str, Any]] = [("'s message:", lambda body: next(queries)), ("Notes to apply:", refine),
                                    ("to check", "We should ask how long the swelling has lasted."),
                                    ("pitched its answer", "N/A")]
    stub = StubServer(rules=rules, default=CLEAN, record=False).start()
    db = tmp_path / "run.sqlite"
    try:
        cli("graph.run", "--n", str(len(REFINED)), "--db", str(db), "--base-url", stub.url, "--config", str(config),
            "--prompts-dir", str(prompts), "--concurrency", "1", timeout=300, check=True)
    finally:
        stub.stop()
    return db, prompts


def run_verdicts(db: Path) -> dict[str, str | None]:
    found = rows(db, "SELECT q.query, r.filter_reason FROM results r JOIN queries q USING (id)")
    return {query.split(" ", 1)[0]: reason for query, reason in found}


def unjudged(db: Path, out: Path) -> Path:
    shutil.copy(db, out)
    conn = sqlite3.connect(out)
    with conn:
        conn.execute("UPDATE results SET kept = 1, filter_reason = NULL")
    conn.close()
    return out


def build(db: Path, out: Path, *flags: str) -> dict[str, Any]:
    cli("training.data", "--db", str(db), "--stage", "sr", "--out", str(out), "--no-decontaminate", "--no-dedup",
        "--validation-fraction", "0", *flags, check=True)
    card: dict[str, Any] = json.loads((out / "data_card.json").read_text(encoding="utf-8"))
    kept = {json.loads(line)["messages"][0]["content"].split(" ", 1)[0]
            for line in (out / "train.jsonl").read_text(encoding="utf-8").splitlines()}
    card["kept_words"] = kept
    return card


def test_the_run_and_the_builder_keep_and_drop_the_same_records(tmp_path: Path) -> None:
    db, prompts = store_of_a_run(tmp_path)
    assert run_verdicts(db) == EXPECTED

    as_run = build(db, tmp_path / "as-run")  # the run's own verdicts: exactly what it kept is written
    assert as_run["kept_words"] == {w for w, reason in EXPECTED.items() if reason is None}

    copy = unjudged(db, tmp_path / "copy.sqlite")
    card = build(copy, tmp_path / "ds")
    assert card["kept_words"] == as_run["kept_words"]
    assert card["dropped"] == {"too_short": 1, "prompt_echo": 1}, card["dropped"]
    assert card["filters"]["min_answer_words"] == 20 and card["filters"]["prompts_dir"] == str(prompts)

    moved = prompts.rename(tmp_path / "moved-prompts")  # the run's templates moved: refused until named
    one_line_error(cli("training.data", "--db", str(copy), "--stage", "sr", "--out", str(tmp_path / "ds2")),
                   "--prompts-dir DIR")
    assert not (tmp_path / "ds2").exists()
    again = build(copy, tmp_path / "ds3", "--prompts-dir", str(moved))
    assert again["dropped"] == card["dropped"] and again["filters"]["prompts_dir"] == str(moved)


def test_a_merged_store_whose_runs_judged_differently_is_refused(tmp_path: Path) -> None:
    db, _ = store_of_a_run(tmp_path)
    (key, text), = rows(db, "SELECT run_key, config FROM runs")
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("INSERT INTO runs (run_key, config, seed, n, shard, version, created) "
                     "SELECT ?, ?, seed, n, shard, version, created FROM runs",
                     (key + "-b", json.dumps({**json.loads(text), "min_answer_words": 30})))
    conn.close()
    proc = cli("training.data", "--db", str(db), "--stage", "sr", "--out", str(tmp_path / "ds"))
    one_line_error(proc, "different min_answer_words")
    assert not (tmp_path / "ds").exists()
