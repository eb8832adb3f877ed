"""End-to-end runs of python -m eval.healthbench and eval.compare against stub policy and grader servers."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from evalkit import MINI, grading_calls, mini_rows, stub_grade, write_jsonl
from stub_server import StubServer

from eval.compare import main as compare_main
from eval.healthbench import main

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"
# Hand-computed from fixtures/mini.jsonl with the STUB-MET grader:
# fever (7 + 10 - 6) / 22 = 0.5, sleep (5 - 8) / 10 = -0.3, rash (6 + 4) / 10 = 1.0
EXPECTED = {
    "overall_score": 0.4,
    "axis:accuracy": (4 / 15 + 1) / 2,
    "axis:completeness": 0.5,
    "axis:context_awareness": 0.0,  # only the sleep example: -0.6, clipped
    "axis:communication_quality": 1.0,
    "theme:emergency_referrals": 0.5,
    "theme:context_seeking": 0.0,
    "theme:hedging": 1.0,
    "level:example": (1 / 12 - 0.3 + 1.0) / 3,
}


def args(
    policy: StubServer | None, grader: StubServer, db: Path, *extra: str, data: Path = MINI
) -> list[str]:
    base = ["--base-url", policy.url] if policy is not None else []
    return ["--data", str(data), *base, "--grader-base-url", grader.url, "--db", str(db), *extra]


def failures(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT stage, prompt_id FROM failures ORDER BY prompt_id").fetchall()


def test_end_to_end_cli(policy: StubServer, grader: StubServer, tmp_path: Path) -> None:
    out, plots = tmp_path / "report.json", tmp_path / "plots"
    cmd = [
        sys.executable,
        "-m",
        "eval.healthbench",
        *args(policy, grader, tmp_path / "evals" / "p.sqlite", "--out", str(out), "--plots", str(plots)),
    ]
    env = {**os.environ, "COLUMNS": "100"}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert set(report) == {
        "score",
        "metrics",
        "bootstrap_std",
        "n_samples",
        "n_examples",
        "n_repeats",
        "repeat_scores",
        "repeat_std",
        "failed_items",
        "grading_failures",
        "response_failures",
        "grading",
    }
    assert report["score"] == pytest.approx(0.4)
    for key, value in EXPECTED.items():
        assert report["metrics"][key] == pytest.approx(value), key
    assert set(report["bootstrap_std"]) == set(report["metrics"]) == set(report["n_samples"])
    assert report["n_samples"]["overall_score"] == 3 and report["n_samples"]["axis:accuracy"] == 2
    assert (report["n_examples"], report["grading_failures"]) == (3, 0)
    assert "axis: accuracy" in proc.stdout and "63.3 ±" in proc.stdout and "theme: hedging" in proc.stdout
    for name in ("axes.png", "themes.png"):
        assert (plots / name).read_bytes()[:8] == PNG
    assert len(policy.requests) == 3 and grading_calls(grader.requests) == 10
    assert policy.requests[0]["messages"] == mini_rows()[0]["prompt"]
    assert all("response_format" not in r for r in grader.requests)  # the reference reads plain text
    assert report["grading"]["prompt"] == "reference" and "graded with reference prompt" in proc.stdout


def test_muser_prompt_probes_structured_output(
    policy: StubServer, grader: StubServer, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    assert (
        main(args(policy, grader, tmp_path / "p.sqlite", "--grader-prompt", "muser", "--out", str(out))) == 0
    )
    assert all(r["response_format"]["type"] == "json_schema" for r in grader.requests)  # probed, accepted
    assert all(r["messages"][0]["role"] == "user" for r in grader.requests)  # no system turn
    report = json.loads(out.read_text())
    assert report["score"] == pytest.approx(0.4)
    assert (report["grading"]["prompt"], report["grading"]["output"]) == ("muser", "json_schema")


def test_second_run_reuses_everything(policy: StubServer, grader: StubServer, tmp_path: Path) -> None:
    db, out = tmp_path / "p.sqlite", tmp_path / "r.json"
    assert main(args(policy, grader, db, "--out", str(out))) == 0
    first = json.loads(out.read_text())
    assert main(args(policy, grader, db, "--out", str(out))) == 0
    assert (len(policy.requests), grading_calls(grader.requests)) == (3, 10)
    assert json.loads(out.read_text()) == first


def test_interrupted_grading_resumes_only_what_is_missing(
    policy: StubServer, grader: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, out = tmp_path / "p.sqlite", tmp_path / "r.json"
    grader.default = lambda body: (
        "cannot say" if "itchy red patch" in body["messages"][-1]["content"] else stub_grade(body)
    )
    assert main(args(policy, grader, db, "--grader-retries", "1", "--out", str(out))) == 1
    partial = json.loads(out.read_text())
    assert partial["grading_failures"] == 3 and partial["n_samples"]["overall_score"] == 2
    assert "theme:hedging" not in partial["metrics"]  # the rash example is left out of every metric
    assert partial["score"] == pytest.approx(0.1)  # mean(0.5, -0.3)
    assert failures(db) == [("grade", "ex-rash")] * 3
    assert "incomplete: 0 responses and 3 rubric items" in capsys.readouterr().err
    calls = grading_calls(grader.requests)
    grader.default = stub_grade
    assert main(args(policy, grader, db, "--out", str(out))) == 0
    assert len(policy.requests) == 3 and grading_calls(grader.requests) == calls + 3
    assert json.loads(out.read_text())["score"] == pytest.approx(0.4)
    assert failures(db) == []


def test_garbage_grader_counts_failures_not_scores(
    policy: StubServer, servers: Callable[..., StubServer], tmp_path: Path
) -> None:
    garbage = servers("grader-model", "The answer seems reasonable to me.")
    out = tmp_path / "r.json"
    assert main(args(policy, garbage, tmp_path / "p.sqlite", "--grader-retries", "1", "--out", str(out))) == 1
    report = json.loads(out.read_text())
    assert report["score"] is None and report["metrics"] == {} and report["n_samples"] == {}
    assert (report["n_examples"], report["grading_failures"]) == (3, 10)
    assert grading_calls(garbage.requests) == 20  # 10 items x (1 + 1 retry), then given up
    assert len(failures(tmp_path / "p.sqlite")) == 10


def test_regrading_with_another_grader_reuses_responses(
    policy: StubServer, grader: StubServer, servers: Callable[..., StubServer], tmp_path: Path
) -> None:
    db = tmp_path / "p.sqlite"
    assert main(args(policy, grader, db)) == 0
    second = servers("grader-two", stub_grade)
    assert main(args(policy, second, db)) == 0
    assert (len(policy.requests), grading_calls(second.requests)) == (3, 10)


def test_grading_given_responses(grader: StubServer, tmp_path: Path) -> None:
    answers = write_jsonl(
        tmp_path / "answers.jsonl",
        [{"prompt_id": r["prompt_id"], "response": "See a doctor."} for r in mini_rows()],
    )
    out = tmp_path / "r.json"
    assert (
        main(args(None, grader, tmp_path / "g.sqlite", "--responses", str(answers), "--out", str(out))) == 0
    )
    assert json.loads(out.read_text())["score"] == pytest.approx(0.4)
    assert "assistant: See a doctor." in grader.requests[-1]["messages"][-1]["content"]
    write_jsonl(answers, [{"prompt_id": "ex-fever", "response": "x"}])
    assert main(args(None, grader, tmp_path / "g2.sqlite", "--responses", str(answers))) == 2


def test_one_store_per_policy(
    policy: StubServer,
    grader: StubServer,
    servers: Callable[..., StubServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "p.sqlite"
    assert main(args(policy, grader, db)) == 0
    other = servers("another-policy")
    assert main(args(other, grader, db)) == 2
    assert "holds responses from 'policy-model', not 'another-policy'" in capsys.readouterr().err
    assert other.requests == []


def test_model_names_are_not_rich_markup(
    servers: Callable[..., StubServer], grader: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odd = servers("[bold red]evil[/]")
    assert main(args(odd, grader, tmp_path / "p.sqlite")) == 0
    assert "[bold red]evil[/]" in capsys.readouterr().out


def test_unreachable_grader_is_one_line(
    policy: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cmd = [
        "--data",
        str(MINI),
        "--base-url",
        policy.url,
        "--grader-base-url",
        "http://127.0.0.1:9/v1",
        "--db",
        str(tmp_path / "p.sqlite"),
    ]
    assert main(cmd) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: connection") and "cannot reach" in err and err.count("\n") == 1


def test_compare_table(
    policy: StubServer,
    grader: StubServer,
    servers: Callable[..., StubServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hard = write_jsonl(tmp_path / "mini_hard.jsonl", mini_rows()[1:])
    base, tuned = tmp_path / "evals" / "base.sqlite", tmp_path / "evals" / "tuned.sqlite"
    assert main(args(policy, grader, base)) == 0
    assert main(args(policy, grader, base, data=hard)) == 0  # labelled hard by its file name
    assert len(policy.requests) == 3  # the hard prompts were already answered
    assert main(args(servers("tuned-model"), grader, tuned)) == 0
    capsys.readouterr()
    assert compare_main([str(base), str(tuned), "--plots", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out
    written = (tmp_path / "evals" / "compare.md").read_text()
    assert printed == written
    lines = written.splitlines()
    assert lines[0] == (
        "| Run | Full | Hard | Consensus | Accuracy | Completeness | Context awareness | "
        "Communication quality | Instruction following |"
    )
    assert lines[2] == "| base | 40.0 | 35.0 | – | 63.3 | 50.0 | 0.0 | 100.0 | – |"  # hard: mean(-0.3, 1.0)
    assert lines[3] == "| tuned | 40.0 | – | – | 63.3 | 50.0 | 0.0 | 100.0 | – |"
    assert "| base | hard | 2 | 2/2 | 0 | 0 | complete | reference prompt" in written
    assert (tmp_path / "cmp" / "axes.png").read_bytes()[:8] == PNG


def test_compare_refuses_a_store_without_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert compare_main([str(tmp_path / "none.sqlite")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_run_resumes_without_repeating_stored_work(
    policy: StubServer, grader: StubServer, tmp_path: Path
) -> None:
    """SIGKILL mid-grading, then the same command: stored responses are not asked for again."""
    import signal
    import time

    grader.latency_ms = 300
    db, out = tmp_path / "p.sqlite", tmp_path / "r.json"
    cmd = [sys.executable, "-m", "eval.healthbench", *args(policy, grader, db, "--concurrency", "1")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        graded = 0
        while time.monotonic() < deadline and graded < 3:
            time.sleep(0.1)
            if db.exists():
                with sqlite3.connect(db) as conn:
                    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
                    graded = (
                        conn.execute("SELECT count(*) FROM grades").fetchone()[0] if "grades" in tables else 0
                    )
        assert graded >= 3, "the first run never got going"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT count(*) FROM responses").fetchone()[0]
        graded = conn.execute("SELECT count(*) FROM grades").fetchone()[0]
    assert graded < 10
    policy_before, grader_before = len(policy.requests), grading_calls(grader.requests)
    grader.latency_ms = 0
    assert main(args(policy, grader, db, "--out", str(out))) == 0
    assert len(policy.requests) - policy_before == 3 - stored
    assert grading_calls(grader.requests) - grader_before == 10 - graded
    assert json.loads(out.read_text())["score"] == pytest.approx(0.4)
