"""Time and peak RSS of `python -m graph.report` on synthetic run stores of growing size.

  python bench/report.py                    # 10,000 and 100,000 results (≈ 3 min on 2 cores)
  python bench/report.py --sizes 1000000    # one size; the store is generated with SQL in a temp dir

The store has the real schema (graph.store) and realistic row sizes: t0 and t' of ~2,000 characters,
r0 and r' of 150-450 words, 0-3 rationales per facet, 6 calls in usage, raw evaluator text. Each
report runs in its own child process; its peak RSS comes from wait4. Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph.store.db import Store  # noqa: E402

WORDS = ["fever", "child", "dose", "water", "rest", "doctor", "breathing", "rash", "sleep", "pain", "hours", "days", "weight", "medicine", "clinic", "urgent", "signs", "watch", "keep", "call"]
# ≈ 5,000 characters: sentences of 15 words, now and then a question to the reader
LOREM = " ".join(WORDS[(i * 7) % len(WORDS)] + ("." if i % 15 == 14 else "") + (" Do you have a fever?" if i % 160 == 90 else "")
                 for i in range(800))
ROLES = '["patient","patient","patient","patient","patient","patient","patient","caregiver","caregiver","doctor"]'
INTENTS = json.dumps([f"intent_{i}" for i in range(14)])
TOPICS = json.dumps(["current medications", "the age of the child", "how long it lasted", "allergies", "other symptoms",
                     "recent travel", "pregnancy", "kidney problems", "what was tried", "the temperature"])


def pick(array: str) -> str:
    return f"json_extract('{array}', '$[' || (abs(random()) % json_array_length('{array}')) || ']')"


def rationale_list(verb: str) -> str:
    """0-3 rationales, about half of the answers have none."""
    line = f"printf('We should {verb} %s.', {pick(TOPICS)})"
    return (f"CASE abs(random()) % 6 WHEN 0 THEN json_array({line}) WHEN 1 THEN json_array({line}, {line}) "
            f"WHEN 2 THEN json_array({line}, {line}, {line}) ELSE json_array() END")


def call(node: str) -> str:
    return (f"json_object('node', '{node}', 'prompt_tokens', 300 + abs(random()) % 900, 'completion_tokens', "
            f"50 + abs(random()) % 700, 'latency_ms', 200.0 + abs(random()) % 20000, 'endpoint', 'http://gpu1:8000/v1', "
            "'attempts', 1)")


def make_store(path: Path, n: int) -> float:
    """A synthetic store of n results (and n queries) written with INSERT … SELECT; returns seconds."""
    t0 = time.perf_counter()
    store = Store.open(path, create=True)
    store.write_run({"refiner": "directref", "facets": ["decision", "communication", "safety"]}, 0, n, None)
    conn = store.conn
    text = "substr(:lorem, 1 + abs(random()) % 1000, {})"
    answer = text.format("900 + abs(random()) % 1800")
    ids = "WITH RECURSIVE ids(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM ids WHERE i + 1 < :n) "
    conn.execute("BEGIN")
    conn.execute(ids + "INSERT INTO queries SELECT i, json_object('role', " + pick(ROLES) + ", 'country', "
                 "CASE WHEN abs(random()) % 10 < 8 THEN 'United States' ELSE 'Kenya' END, 'setting', "
                 "CASE WHEN abs(random()) % 10 < 7 THEN 'urban' ELSE 'rural' END, 'intent', " + pick(INTENTS) + ", "
                 "'vagueness', CASE WHEN abs(random()) % 10 < 3 THEN 'vague' ELSE 'clear' END, 'completeness', "
                 "CASE WHEN abs(random()) % 10 < 2 THEN 'complete' ELSE 'incomplete' END, 'style', "
                 "CASE WHEN abs(random()) % 2 THEN 'formal' ELSE 'informal' END), 'query ' || i FROM ids",
                 {"n": n})
    rationales = (f"json_object('decision', {rationale_list('ask about')}, 'communication', "
                  f"{rationale_list('explain')}, 'safety', {rationale_list('warn about')})")
    facet_raw = ("json_object('decision', json_object('raw', substr(:lorem, 1, 300), 'parse_error', NULL), "
                 "'communication', json_object('raw', substr(:lorem, 1, 300), 'parse_error', NULL), "
                 "'safety', json_object('raw', substr(:lorem, 1, 300), 'parse_error', "
                 "CASE WHEN abs(random()) % 100 = 0 THEN 'no line' END))")
    usage = ("json_object('prompt_tokens', 4000, 'completion_tokens', 2000, 'calls', json_array("
             + ", ".join(call(c) for c in ("generate", "eval_decision", "eval_communication", "eval_safety",
                                           "refine_directref")) + "))")
    conn.execute(ids + f"INSERT INTO results SELECT i, {text.format(2000)}, {answer}, {rationales}, "
                 f"{text.format(2400)}, {answer}, abs(random()) % 10 < 8, abs(random()) % 10 < 9, NULL, {usage}, "
                 f"1000.0 + abs(random()) % 60000, {facet_raw} FROM ids", {"n": n, "lorem": LOREM})
    conn.execute("UPDATE results SET filter_reason = 'too_short' WHERE kept = 0")
    conn.execute("COMMIT")
    store.close()
    return time.perf_counter() - t0


def measure(db: Path, out: Path) -> dict[str, float]:
    """Wall time and peak RSS of one `python -m graph.report` child."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="120")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "graph.report", "--db", str(db), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"graph.report failed: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="Comma-separated result counts.")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            db = Path(tmp) / f"synthetic-{n}.sqlite"
            made = make_store(db, n)
            row = {"results": n, "store_mb": round(db.stat().st_size / 2**20, 1), "generate_s": round(made, 1),
                   **measure(db, Path(tmp) / f"report-{n}")}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            db.unlink()
    print(json.dumps({"load_average": os.getloadavg()[0], "cases": rows}))


if __name__ == "__main__":
    main()
