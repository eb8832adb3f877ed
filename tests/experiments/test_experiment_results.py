"""The method's table (experiments.results) from real eval stores holding hand-made gradings whose means and
paired difference are worked out by hand; and its refusals, one line each, writing nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from eval.batch.store import EvalStore

ROOT = Path(__file__).parents[2]
GRADING = {"prompt": "muser", "prompt_sha256": "ab" * 32, "model": "smollm2-135m-instruct", "temperature": 0.5,
           "max_tokens": 160, "output": "json_schema", "system": None}
ACC = "axis:accuracy"


def store(path: Path, runs: dict[str, dict[str, dict[str, float]]], grading: dict = GRADING) -> str:
    """A store with one finished run per subset, its report computed from `per_example` ({id: {metric: score}})."""
    db = EvalStore(path)
    for subset, per_example in runs.items():
        keys = {key for scores in per_example.values() for key in scores}
        values = {key: [s[key] for s in per_example.values() if key in s] for key in keys}
        report: dict[str, Any] = {"score": sum(values["overall_score"]) / len(values["overall_score"]),
                                  "metrics": {k: sum(v) / len(v) for k, v in values.items()},
                                  "n_samples": {k: len(v) for k, v in values.items()}, "n_examples": len(per_example),
                                  "grading": grading, "per_example": per_example,
                                  "grading_failures": 0, "response_failures": 0}
        run = db.start_run(data="bundled", subset=subset, policy="m", grader=grading["model"], config={})
        db.finish_run(run, report)
    db.close()
    return str(path)


def results(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "experiments.results", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


BASE = {"p1": {"overall_score": 0.2, ACC: 0.5}, "p2": {"overall_score": 0.4}, "p3": {"overall_score": 0.6, ACC: 1.0}}
SR = {"p1": {"overall_score": 0.5, ACC: 0.0}, "p2": {"overall_score": 0.4}, "p3": {"overall_score": 0.9, ACC: 0.5}}


def test_scores_with_n_and_the_paired_difference_from_the_base(tmp_path: Path) -> None:
    base = store(tmp_path / "base.sqlite", {"full": BASE, "hard": {"h1": {"overall_score": 0.1}, "h2": {"overall_score": 0.3}}})
    sr = store(tmp_path / "sr.sqlite", {"full": SR})
    out, js = tmp_path / "results.md", tmp_path / "results.json"
    proc = results(f"base={base}", f"+SR={sr}", "--out", str(out), "--json", str(js))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text(encoding="utf-8")
    assert proc.stdout == text and text.startswith("Graded by muser prompt (sha256 abababababab), smollm2-135m-instruct")
    # base: overall (0.2+0.4+0.6)/3 = 40.0 on 3, accuracy (0.5+1.0)/2 = 75.0 on 2, hard (0.1+0.3)/2 = 20.0 on 2
    assert "| base | 40.0 (3) | 75.0 (2) | – (0) | – (0) | – (0) | – (0) | 20.0 (2) |" in text
    assert "| +SR | 60.0 (3) | 25.0 (2) | – (0) | – (0) | – (0) | – (0) | – |" in text
    # differences per example 0.3, 0, 0.3: mean +20.0; a resample's mean is 0, 0.1, 0.2 or 0.3, and all three
    # draws are the zero one with probability 1/27 > 2.5%, all 0.3 with 8/27: the interval is [0, 30]
    assert "| +SR | +20.0 | [+0.0, +30.0] | 3 | 2 | 0 |" in text
    data = json.loads(js.read_text(encoding="utf-8"))
    assert data["grading"] == GRADING and [row["row"] for row in data["rows"]] == ["base", "+SR"]
    assert data["rows"][0]["full"]["overall_score"] == {"score": pytest.approx(0.4), "n": 3}
    assert data["rows"][0]["hard"]["overall_score"] == {"score": pytest.approx(0.2), "n": 2}
    paired = data["rows"][1]["vs"]["paired"]
    assert data["rows"][1]["vs"]["row"] == "base" and paired["overall_score"]["diff"] == pytest.approx(0.2)
    assert paired[ACC]["diff"] == pytest.approx(-0.5) and paired[ACC]["n"] == 2


@pytest.mark.parametrize(("rows", "needle"), [
    (["base=B", "+SR=OTHER"], "graded differently"),
    (["base=B", "+KD=missing.sqlite"], "+KD: no store missing.sqlite; run eval.healthbench --db missing.sqlite first"),
    (["base=B", "+KD=BAD"], "bad.sqlite"),
    (["base=B", "+KD=EMPTY"], "has no finished evaluation"),
    (["base"], "give each row as ROW=STORE"),
    (["base=B", "+SR=OUT"], "is one of the stores"),
])
def test_refusals_in_one_line_and_nothing_written(tmp_path: Path, rows: list[str], needle: str) -> None:
    (tmp_path / "bad.sqlite").write_text("not a database")
    EvalStore(tmp_path / "empty.sqlite").close()
    named = {"B": store(tmp_path / "b.sqlite", {"full": BASE}),
             "OTHER": store(tmp_path / "o.sqlite", {"full": SR}, {**GRADING, "model": "other"}),
             "BAD": str(tmp_path / "bad.sqlite"), "EMPTY": str(tmp_path / "empty.sqlite"),
             "OUT": str(tmp_path / "results.md")}
    args = [f"{row}={named.get(path, path)}" for row, _, path in (text.partition("=") for text in rows)]
    proc = results(*[a.rstrip("=") for a in args], "--out", str(tmp_path / "results.md"),
                   "--json", str(tmp_path / "results.json"))
    assert proc.returncode == 2 and needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "results.md").exists() and not (tmp_path / "results.json").exists()
