"""A small run store written by hand, whose every report figure is worked out in the tests.

Six results (ids 0-5), one failure (id 6), one id still pending (7), three teacher answers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from graph.store.db import Store

FACETS = ["decision", "communication", "safety"]
PARSE_ERROR = "no 'We should …' line and no N/A"


def words(n: int, extra: str = "") -> str:
    return " ".join(["word"] * (n - len(extra.split()))) + (" " + extra if extra else "")


def attrs(role: str, completeness: str, country: str = "United States", **more: str) -> dict[str, str]:
    base = {"role": role, "completeness": completeness, "country": country, "setting": "urban",
            "vagueness": "vague", "style": "formal", "intent": "symptom_check"}
    return base | more


def call(node: str, p: int, c: int, ms: float) -> dict[str, Any]:
    return {"node": node, "prompt_tokens": p, "completion_tokens": c, "latency_ms": ms, "endpoint": "x", "attempts": 1}


# id: (attributes, rationales, parse-failed facet, r0, r', refined, kept, reason, calls, item latency)
RESULTS: list[tuple[Any, ...]] = [
    (attrs("patient", "incomplete", setting="rural"),
     {"decision": ["We should ask about current medications.", "We should ask how long the fever lasted."],
      "communication": [], "safety": ["We should tell them to call emergency services if breathing is hard."]},
     None, words(60), words(80, "Do you take any medicines?"), 1, 1, None,
     [call("generate", 100, 50, 1000), call("eval_decision", 200, 20, 100), call("eval_communication", 200, 5, 200),
      call("eval_safety", 200, 10, 300), call("refine_directref", 300, 80, 2000)], 3000),
    (attrs("patient", "incomplete", country="Canada", style="informal"),
     {"decision": ["we should ASK about current medications and allergies"],
      "communication": ["We should use plainer words."], "safety": []},
     None, words(40), words(70), 1, 1, None,
     [call("generate", 110, 40, 1500), call("refine_directref", 300, 90, 2500)], 4000),
    (attrs("doctor", "complete"),
     {"decision": [], "communication": ["We should be more technical for a doctor."], "safety": []},
     None, words(100), words(90, "What is croup?"), 1, 1, None, [], 1000),
    (attrs("patient", "complete"),
     {"decision": [], "communication": [], "safety": []},
     None, words(55, "What about you?"), words(55, "What about you?"), 0, 1, None, [], 500),
    (attrs("caregiver", "incomplete"),
     {"decision": [], "communication": [], "safety": ["We should warn about dehydration."]},
     "decision", words(30), words(45), 1, 0, "parse_failed:decision", [], 800),
    (attrs("patient", "incomplete"),
     {"decision": [], "communication": [], "safety": []},
     None, "I cannot help with that.", "I cannot help with that.", 0, 0, "refused", None, 100),
]
# id: (answer, kept, reason, prompt tokens, completion tokens, latency)
TEACHER = [(words(120), 1, None, 10, 100, 900.0), (words(150), 1, None, 20, 120, 1100.0),
           (words(20), 0, "too_short", 30, 15, 300.0)]


def build(path: Path, n: int = 8) -> Path:
    """Write the hand-made store to `path` (a real graph.store file) and return the path."""
    store = Store.open(path, create=True)
    store.write_run({"refiner": "directref", "facets": FACETS, "endpoint": {"model": "stub-model"}}, 0, n, None)
    conn = store.conn
    with conn:
        conn.execute("BEGIN")
        for i, (a, rat, bad, r0, r1, refined, kept, reason, calls, lat) in enumerate(RESULTS):
            raw = {f: {"raw": "…", "parse_error": PARSE_ERROR if f == bad else None} for f in FACETS}
            usage = None if calls is None else json.dumps({"calls": calls})
            conn.execute("INSERT INTO queries (id, attributes, query) VALUES (?, ?, ?)", (i, json.dumps(a), f"query {i}"))
            conn.execute(
                "INSERT INTO results (id, reasoning, answer, rationales, refined_reasoning, refined_answer, refined, "
                "kept, filter_reason, usage, latency_ms, facet_raw) VALUES (?, '', ?, ?, '', ?, ?, ?, ?, ?, ?, ?)",
                (i, r0, json.dumps(rat), r1, refined, kept, reason, usage, lat, json.dumps(raw)))
        conn.execute("INSERT INTO queries (id, attributes, query) VALUES (6, ?, 'query 6')", (json.dumps(attrs("patient", "complete")),))
        conn.execute("INSERT INTO failures (id, stage, error_class, message, attempts) VALUES (6, 'generate', 'http_500', 'boom', 5)")
        for i, (answer, kept, reason, p, c, lat) in enumerate(TEACHER):
            conn.execute("INSERT INTO teacher (id, reasoning, answer, kept, filter_reason, usage, latency_ms) "
                         "VALUES (?, '', ?, ?, ?, ?, ?)",
                         (i, answer, kept, reason, json.dumps({"prompt_tokens": p, "completion_tokens": c}), lat))
    store.close()
    return path
