"""Does refinement help? The paired difference of two gradings, pure and end to end: a self-written
HealthBench-format file → graph.run --queries-from (stub backbone) → export r0 and r' → eval.healthbench
--responses (stub grader) → eval.compare, whose paired numbers are computed here by hand."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from evalkit import MET_MARK, is_grading, rubric_item_of, write_jsonl
from stub_server import StubServer

from eval.data.examples import parse_example
from eval.reports.paired import compare_paired, example_scores, paired_bootstrap
from eval.reports.report import DROP, UNMET

ROOT = Path(__file__).resolve().parents[2]
REVISED = "Revised answer."  # how every r' of the stub backbone starts
BACKBONE_RULES = [
    ("Context to check", "1. We should ask the user about their age.\n2. We should ask about current medicines."),
    ("pitched its answer", "N/A"),
    ("Perspectives to check", "We should tell the user to seek urgent care if breathing becomes difficult."),
    ("Your reflection", REVISED + " Keep the child drinking and watch for warning signs. " * 6),
]


def item(criterion: str, points: int, axis: str) -> dict[str, Any]:
    return {"criterion": criterion, "points": points, "tags": [f"axis:{axis}"]}


# Graded by `grade` below: STUB-MET items are always met, REVISED-MET items only by a refined answer.
# s0: r0 5/10 → r' 10/10 (up); s1: r0 4/4 → r' (4 - 1)/4 (down); s2: 6/6 both (same); m0 is multi-turn.
ROWS = [
    {"prompt_id": "s0", "prompt": [{"role": "user", "content": "My son has a fever of 39 C. What do I do?"}],
     "rubrics": [item("STUB-MET advises fluids", 5, "accuracy"), item("REVISED-MET names warning signs", 5,
                                                                       "completeness")],
     "example_tags": ["theme:emergency_referrals"]},
    {"prompt_id": "m0", "prompt": [{"role": "user", "content": "I cough."}, {"role": "assistant", "content": "Since?"},
                                   {"role": "user", "content": "A week."}],
     "rubrics": [item("STUB-MET asks about smoking", 5, "completeness")], "example_tags": ["theme:context_seeking"]},
    {"prompt_id": "s1", "prompt": [{"role": "user", "content": "Can I take ibuprofen for a headache?"}],
     "rubrics": [item("STUB-MET is clear", 4, "communication_quality"),
                 item("REVISED-MET pads the answer", -1, "communication_quality")],
     "example_tags": ["theme:hedging"]},
    {"prompt_id": "s2", "prompt": [{"role": "user", "content": "Is a mole that changed shape a concern?"}],
     "rubrics": [item("STUB-MET says to see a dermatologist", 6, "accuracy")], "example_tags": ["theme:hedging"]},
]


def grade(body: dict[str, Any]) -> str:
    criterion = rubric_item_of(body) if is_grading(body) else ""
    text = body["messages"][-1]["content"]
    met = MET_MARK in criterion or ("REVISED-MET" in criterion and REVISED in text)
    return "```json\n" + json.dumps({"explanation": "stub verdict", "criteria_met": met}) + "\n```"


def py(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, (args, proc.stderr[-2000:])
    return proc


# -- pure ------------------------------------------------------------------------------------------------
def test_paired_numbers_by_hand() -> None:
    first = {"a": {"overall_score": 0.5}, "b": {"overall_score": 1.0}, "c": {"overall_score": 0.2}, "x": {}}
    second = {"a": {"overall_score": 1.0}, "b": {"overall_score": 0.75}, "c": {"overall_score": 0.2}}
    (row,) = compare_paired(first, second)
    assert row.n == 3 and (row.up, row.down, row.same) == (1, 1, 1)
    assert row.diff == pytest.approx((1.0 + 0.75 + 0.2) / 3 - (0.5 + 1.0 + 0.2) / 3)
    assert row.low <= row.diff <= row.high
    assert compare_paired(first, second) == compare_paired(first, second), "the bootstrap must be seeded"


def test_paired_bootstrap_of_a_constant_shift_is_that_shift() -> None:
    a = np.array([0.1, 0.3, 0.5, 0.2])
    low, high = paired_bootstrap(a, a + 0.25, np.random.default_rng(0))
    assert low == pytest.approx(0.25) and high == pytest.approx(0.25)  # pairing removes the spread between examples


def test_example_scores_follow_the_failed_items_policy() -> None:
    ex = parse_example(ROWS[0], "rows", 1)
    met = {("s0", 0): [True, None], ("s0", 1): [True, True]}
    assert example_scores([ex], met, repeats=2, failed_items=DROP)["s0"]["overall_score"] == 1.0
    assert example_scores([ex], met, repeats=2, failed_items=UNMET)["s0"]["overall_score"] == 0.75
    assert example_scores([ex], {}, failed_items=DROP) == {}


# -- end to end on the stub -------------------------------------------------------------------------------
def test_refined_against_initial_end_to_end(stub: StubServer, servers: Callable[..., StubServer],
                                             tmp_path: Path) -> None:
    stub.rules = list(BACKBONE_RULES)
    grader = servers("grader-model", grade)
    data, db = write_jsonl(tmp_path / "mini-hb.jsonl", ROWS), tmp_path / "runs" / "hb.sqlite"
    run = py("graph.run", "--queries-from", str(data), "--db", str(db), "--base-url", stub.url)
    assert "1 multi-turn rows skipped" in run.stderr
    evals = {}
    for what in ("initial", "refined"):
        answers = tmp_path / f"{what}.jsonl"
        py("graph.export", "--db", str(db), "--what", what, "--out", str(answers))
        evals[what] = tmp_path / "evals" / f"{what}.sqlite"
        py("eval.healthbench", "--data", str(data), "--responses", str(answers), "--only-answered",
           "--grader-base-url", grader.url, "--db", str(evals[what]))
    out = tmp_path / "compare.md"
    shown = py("eval.compare", str(evals["initial"]), str(evals["refined"]), "--out", str(out)).stdout
    table = out.read_text()
    assert shown == table and "Paired difference, refined − initial" in table
    cells = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in table.splitlines() if " | " in line}
    overall = cells["overall"]  # r0 (0.5 + 1 + 1)/3, r' (1 + 0.75 + 1)/3
    assert overall[1:5] == ["3", "83.3", "91.7", "+8.3"] and overall[6:] == ["1", "1", "1 |"]
    low, high = (float(x) for x in overall[5].strip("[]").split(", "))
    assert low <= 8.3 <= high
    assert cells["axis: completeness"][1:5] == ["1", "0.0", "100.0", "+100.0"]
    assert cells["axis: communication quality"][1:5] == ["1", "100.0", "75.0", "-25.0"]
    assert cells["axis: accuracy"][1:5] == ["2", "100.0", "100.0", "+0.0"] and cells["axis: accuracy"][8] == "2 |"
    assert cells["theme: hedging"][1:5] == ["2", "100.0", "87.5", "-12.5"]
    assert cells["theme: emergency referrals"][1:5] == ["1", "50.0", "100.0", "+50.0"]
    assert "theme: context seeking" not in cells, "the multi-turn example was never answered"


def test_only_answered_needs_responses(tmp_path: Path, servers: Callable[..., StubServer]) -> None:
    grader = servers("grader-model", grade)
    data = write_jsonl(tmp_path / "mini-hb.jsonl", ROWS)
    proc = subprocess.run([sys.executable, "-m", "eval.healthbench", "--data", str(data), "--only-answered",
                           "--grader-base-url", grader.url, "--db", str(tmp_path / "e.sqlite")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: --only-answered")
    assert not (tmp_path / "e.sqlite").exists()
