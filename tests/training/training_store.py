"""Helpers for the training tests: real SQLite stores written with the runner's schema, and their rows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE runs(run_key TEXT PRIMARY KEY, config TEXT, seed INTEGER, n INTEGER, shard TEXT, version TEXT,
                  created TEXT);
CREATE TABLE queries(id INTEGER PRIMARY KEY, attributes TEXT, query TEXT);
CREATE TABLE results(id INTEGER PRIMARY KEY, reasoning TEXT, answer TEXT, rationales TEXT, refined_reasoning TEXT,
                     refined_answer TEXT, refined INTEGER, kept INTEGER, filter_reason TEXT, usage TEXT,
                     latency_ms REAL);
CREATE TABLE teacher(id INTEGER PRIMARY KEY, reasoning TEXT, answer TEXT, kept INTEGER, filter_reason TEXT,
                     usage TEXT, latency_ms REAL);
CREATE TABLE failures(id INTEGER PRIMARY KEY, stage TEXT, error_class TEXT, message TEXT, attempts INTEGER);
"""

TOPICS = [
    ("a persistent dry cough", "cough"),
    ("knee pain after running", "knee"),
    ("trouble sleeping at night", "sleep"),
    ("a mild rash on the forearm", "rash"),
    ("frequent tension headaches", "headache"),
    ("low iron on a blood test", "iron"),
    ("heartburn after meals", "heartburn"),
    ("seasonal hay fever", "allergy"),
    ("a sprained ankle", "ankle"),
    ("high blood pressure readings at home", "pressure"),
    ("lower back stiffness in the morning", "back"),
    ("a sore throat with fever", "throat"),
]


def long_answer(topic: str, words: int = 60) -> str:
    """A plausible answer of at least `words` words about `topic`."""
    base = (
        f"For {topic}, start with the simple measures: rest, fluids and watching how symptoms change over the "
        "next few days. Could you tell me your age, how long this has lasted, which medicines you take and "
        "whether anything makes it better or worse? See a clinician promptly if it worsens, if you develop "
        "a high fever, or if breathing becomes difficult, because those signs need an in-person examination."
    )
    text = base
    while len(text.split()) < words:
        text += " Keep a short symptom diary so the clinician can see the pattern."
    return text


def store_rows(n: int = 12) -> list[dict[str, Any]]:
    """`n` distinct queries with teacher and refined responses that all pass the filters."""
    rows = []
    for i in range(n):
        topic, tag = TOPICS[i % len(TOPICS)]
        rows.append(
            {
                "id": i + 1,
                "query": f"I have {topic} (case {i + 1}). What should I do?",
                "t_reasoning": f"The user reports {tag}; I should cover self-care, ask for context and list red flags.",
                "t_answer": long_answer(topic),
                "reasoning": f"Initial thoughts about {tag}.",
                "answer": long_answer(topic, 55),
                "refined_reasoning": f"Initial thoughts about {tag}. First, we should ask about age and duration.",
                "refined_answer": long_answer(topic, 70)
                + " Please also share your age and how long it has lasted.",
                "refined": 1,
                "kept": 1,
                "filter_reason": None,
                "t_kept": 1,
                "t_filter_reason": None,
            }
        )
    return rows


def write_store(path: Path, rows: Iterable[dict[str, Any]], teacher: bool = True) -> Path:
    """Write a MuSeR store at `path` with one run and the given rows (keys as in `store_rows`)."""
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA if teacher else SCHEMA.replace("CREATE TABLE teacher", "CREATE TABLE unused"))
    conn.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
        ("run-test", json.dumps({"refiner": "directref"}), 0, 0, None, "0.1.0", "2025-01-01T00:00:00Z"),
    )
    for r in rows:
        conn.execute(
            "INSERT INTO queries VALUES (?, ?, ?)", (r["id"], json.dumps({"role": "patient"}), r["query"])
        )
        conn.execute(
            "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r["id"],
                r["reasoning"],
                r["answer"],
                json.dumps({"decision": [], "communication": [], "safety": []}),
                r["refined_reasoning"],
                r["refined_answer"],
                r["refined"],
                r["kept"],
                r["filter_reason"],
                "{}",
                1.0,
            ),
        )
        if teacher:
            conn.execute(
                "INSERT INTO teacher VALUES (?, ?, ?, ?, ?, ?, ?)",
                (r["id"], r["t_reasoning"], r["t_answer"], r["t_kept"], r["t_filter_reason"], "{}", 1.0),
            )
    conn.commit()
    conn.close()
    return path


CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
