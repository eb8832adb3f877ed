"""End to end: a stub whose generator hands out clean, near-duplicate and HealthBench queries and whose answers
and refinements loop, echo the refine prompt, stop at the token limit or carry glued or invented words →
graph.run → training.data and graph.export (SR and KD) keep exactly the clean records, one per near-duplicate group; the card and the
run report count each reason. The HealthBench turn is read from the installed package at test time."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from storekit import cli
from stub_server import StubServer

from training.dataset.decontam import bundled_healthbench, user_turns

CLEAN = ("Swollen ankles for a few weeks have several common causes, from standing for long hours to medicines "
         "such as amlodipine, and some that need a check, such as heart, kidney or vein problems. Raise your legs "
         "when you sit, walk a little every hour and cut down on salty food. Could you tell me your age, which "
         "medicines you take and whether you get short of breath? See a doctor this week for a blood test, and "
         "go to urgent care at once if one calf is hot, red and painful or breathing becomes hard.")
REFINED = "Thank you for asking. " + CLEAN + " Let me know how it goes after a few days of these steps."
LOOP = CLEAN + "\nPlease see a doctor if the swelling continues for more than a week." * 8
ECHO = ("You are an experienced clinician. Below are a user's question, the answer you gave earlier, and the notes "
        "you wrote. " + CLEAN)
CUT = {"content": CLEAN[:-60], "finish_reason": "length"}  # stops mid-sentence
DUP = ("I am a 45 year old man and for the past three weeks both my ankles swell by the evening, my shoes feel "
       "tight and the skin leaves a dent when I press it. I take amlodipine for high blood pressure and I work "
       "standing in a shop all day. Is this dangerous and what should I do about it?")
GLUED = CLEAN.replace("Raise your legs when you sit, walk a little every hour and cut down on salty food.",
                      "Raiseyourlegswhenyousitwalkalittleeveryhourandcutdownonsaltyfood.")
INVENTED = " ".join(word if i % 3 else "".join(reversed(word)) + "xq" for i, word in enumerate(CLEAN.split()))
# a word of the query → its answer and refinement
MARKED = {"eczema": LOOP, "migraine": ECHO, "gout": CUT, "psoriasis": GLUED, "asthma": INVENTED}


def hb_turn() -> str:
    """A one-paragraph HealthBench user turn the query generator's cleaning leaves as it is."""
    return next(t for t in user_turns(bundled_healthbench())
                if 20 <= len(t.split()) <= 80 and "\n" not in t and '"' not in t and not t.endswith(":"))


def queries() -> dict[str, str]:
    return {
        "clean1": "My 70 year old father has swollen ankles since starting a new blood pressure tablet. Should he stop it?",
        "dup_a": DUP,
        "clean2": "Can swollen ankles in late pregnancy be a sign of something serious, and when should I call my midwife?",
        "loop": "My son's eczema on his elbows keeps flaring in winter; which creams are safe for an eight year old?",
        "dup_b": DUP.upper().replace(",", "").replace("?", "!!"),
        "echo": "I get a migraine with flashing lights twice a month. Is it safe to take the pill, or should I stop?",
        "cut": "My big toe became hot and swollen overnight; could this be gout, and what helps the pain quickly?",
        "bench": "Hello doctor! " + hb_turn(),
        "glued": "The psoriasis on my scalp itches at night and flakes onto my clothes. What can I use at home?",
        "invented": "My daughter's asthma gets worse every spring. Should her inhaler dose change during pollen season?",
        "clean3": "Why do my ankles swell after a long flight, and do compression socks actually help prevent clots?",
    }


def by_marker(clean: Any) -> Any:
    def reply(body: dict[str, Any]) -> Any:
        text = json.dumps(body)
        return next((r for word, r in MARKED.items() if word in text), clean)

    return reply


def test_the_gate_keeps_exactly_the_clean_records(tmp_path: Path) -> None:
    wanted = queries()
    handed = iter(wanted.values())
    rules: list[tuple[str, Any]] = [
        ("Write the message that a person sends", lambda body: next(handed)),
        ("improved answer", by_marker(REFINED)),
        ("reviewing how a medical AI assistant", "We should ask how long the swelling has lasted."),
    ]
    stub = StubServer(rules=rules, default=by_marker(CLEAN), record=False).start()
    db = tmp_path / "run.sqlite"
    try:
        cli("graph.run", "--n", str(len(wanted)), "--db", str(db), "--base-url", stub.url,
            "--teacher-base-url", stub.url, "--concurrency", "1", timeout=300, check=True)
    finally:
        stub.stop()

    conn = sqlite3.connect(db)
    ids = {q: i for i, q in conn.execute("SELECT id, query FROM queries")}
    name = {ids[q]: k for k, q in wanted.items()}
    for table in ("results", "teacher"):
        stored = {name[i]: r for i, r in conn.execute(f"SELECT id, filter_reason FROM {table}")}
        assert {k: stored[k] for k in ("loop", "echo", "cut", "glued", "invented")} == {
            "loop": "repetition", "echo": "prompt_echo", "cut": "truncated", "glued": "word_quality",
            "invented": "word_quality"}, table
    conn.close()

    first_dup, later_dup = sorted((ids[wanted["dup_a"]], ids[wanted["dup_b"]]))
    clean = sorted([ids[wanted[k]] for k in ("clean1", "clean2", "clean3")] + [first_dup])
    for stage in ("sr", "kd"):
        out = tmp_path / stage
        cli("training.data", "--db", str(db), "--stage", stage, "--out", str(out), "--validation-fraction", "0",
            check=True)
        kept = [json.loads(line)["id"] for line in (out / "train.jsonl").read_text().splitlines()]
        assert kept == clean, (stage, [name[i] for i in kept])
        card = json.loads((out / "data_card.json").read_text())
        assert card["dropped"] == {"benchmark_overlap": 1, "near_duplicate": 1, "store:prompt_echo": 1,
                                   "store:repetition": 1, "store:truncated": 1, "store:word_quality": 2}
        assert card["dropped_examples"]["near_duplicate"] == [later_dup]
        assert card["dropped_examples"]["benchmark_overlap"] == [ids[wanted["bench"]]]
        exported = tmp_path / f"{stage}.jsonl"
        cli("graph.export", "--db", str(db), "--what", stage, "--out", str(exported), check=True)
        assert [json.loads(line)["id"] for line in exported.read_text().splitlines()] == clean

    report = tmp_path / "report"
    cli("graph.report", "--db", str(db), "--out", str(report), "--no-plots", check=True)
    dropped = json.loads((report / "report.json").read_text())["outcome"]["dropped"]
    assert {k: v["count"] for k, v in dropped.items()} == {"repetition": 1, "prompt_echo": 1, "truncated": 1,
                                                           "word_quality": 2}
