"""Failed-items policies and repeated runs, end to end against stub servers, with hand-computed scores.

Scores from fixtures/mini.jsonl with the STUB-MET grader: fever 0.5, sleep -0.3, rash 1.0.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from evalkit import MINI, stub_grade
from stub_server import StubServer

from eval.healthbench import main


def run_args(policy: StubServer, grader: StubServer, db: Path, *extra: str) -> list[str]:
    return [
        "--data",
        str(MINI),
        "--base-url",
        policy.url,
        "--grader-base-url",
        grader.url,
        "--db",
        str(db),
        *extra,
    ]


def no_rash_verdict(body: dict[str, Any]) -> str:
    return "cannot say" if "itchy red patch" in body["messages"][-1]["content"] else stub_grade(body)


@pytest.mark.parametrize(
    ("policy_name", "score", "n"),
    [("drop-example", (0.5 - 0.3) / 2, 2), ("score-as-unmet", (0.5 - 0.3 + 0.0) / 3, 3)],
)
def test_failed_items_policy(
    policy_name: str,
    score: float,
    n: int,
    policy: StubServer,
    servers: Callable[..., StubServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    grader = servers("grader-model", no_rash_verdict)
    out = tmp_path / "r.json"
    cmd = run_args(policy, grader, tmp_path / "p.sqlite", "--grader-retries", "0", "--out", str(out))
    assert main([*cmd, "--failed-items", policy_name]) == 1  # incomplete either way
    report = json.loads(out.read_text())
    assert report["score"] == pytest.approx(score) and report["n_samples"]["overall_score"] == n
    assert (report["failed_items"], report["grading_failures"], report["response_failures"]) == (
        policy_name,
        3,
        0,
    )
    assert f"scored as {policy_name}" in capsys.readouterr().err


def test_missing_answer_scores_zero_when_unmet(
    servers: Callable[..., StubServer], grader: StubServer, tmp_path: Path
) -> None:
    policy = servers("policy-model")
    policy.rules = [("itchy red patch", (400, "this prompt is refused"))]
    out = tmp_path / "r.json"
    cmd = run_args(
        policy, grader, tmp_path / "p.sqlite", "--failed-items", "score-as-unmet", "--out", str(out)
    )
    assert main(cmd) == 1
    report = json.loads(out.read_text())
    assert report["score"] == pytest.approx((0.5 - 0.3 + 0.0) / 3) and report["response_failures"] == 1
    assert report["metrics"]["theme:hedging"] == 0.0  # the rash example is scored, meeting nothing


def test_repeats_are_pooled_and_their_spread_reported(
    servers: Callable[..., StubServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: dict[str, int] = {}

    def answer(body: dict[str, Any]) -> str:
        last = body["messages"][-1]["content"]
        asked[last] = asked.get(last, 0) + 1
        return "first answer" if asked[last] == 1 else "second answer"

    def grade(body: dict[str, Any]) -> str:  # the second answers meet nothing
        content = body["messages"][-1]["content"]
        return stub_grade(body).replace("true", "false") if "second answer" in content else stub_grade(body)

    policy, grader = servers("policy-model", answer), servers("grader-model", grade)
    db, out = tmp_path / "p.sqlite", tmp_path / "r.json"
    cmd = run_args(policy, grader, db, "--n-repeats", "2", "--concurrency", "1", "--out", str(out))
    assert main(cmd) == 0
    report = json.loads(out.read_text())
    assert len(policy.requests) == 6 and report["n_repeats"] == 2
    assert report["repeat_scores"] == pytest.approx([0.4, 0.0])
    assert report["repeat_std"] == pytest.approx(0.2)
    assert report["score"] == pytest.approx((0.5 - 0.3 + 1.0) / 6)  # examples x repeats, pooled
    assert report["n_samples"]["overall_score"] == 6 and report["n_examples"] == 3
    assert "overall std across repeats 20.0" in capsys.readouterr().out
    with sqlite3.connect(db) as conn:
        keys = sorted(r[0] for r in conn.execute("SELECT prompt_id FROM responses"))
    assert keys == ["ex-fever", "ex-fever#1", "ex-rash", "ex-rash#1", "ex-sleep", "ex-sleep#1"]
    assert main(cmd) == 0 and len(policy.requests) == 6  # resumed: every answer is stored
    assert json.loads(out.read_text()) == report
