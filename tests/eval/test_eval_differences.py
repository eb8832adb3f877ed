"""eval.compare's per-example differences: two stores that graded the same examples, one grader strict and
one lenient, and the pure ordering of differences."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from evalkit import MINI, is_grading, mini_rows
from stub_server import StubServer

from eval.compare import main as compare_main
from eval.healthbench import main
from eval.reports.differences import differences


def lenient(body: dict[str, Any]) -> str:
    """Every rubric item met."""
    return json.dumps({"explanation": "all met", "criteria_met": is_grading(body)})


def test_compare_lists_per_example_differences(policy: StubServer, grader: StubServer,
                                               servers: Callable[..., StubServer], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    strict_db, lenient_db = tmp_path / "strict.sqlite", tmp_path / "lenient.sqlite"
    for db, g in ((strict_db, grader), (lenient_db, servers("grader-model", lenient))):
        assert main(["--data", str(MINI), "--base-url", policy.url, "--grader-base-url", g.url, "--db", str(db)]) == 0
    capsys.readouterr()
    assert compare_main([str(strict_db), str(lenient_db), "--out", str(tmp_path / "c.md")]) == 0
    written = (tmp_path / "c.md").read_text()
    expected = {}
    for row in mini_rows():
        positive = sum(r["points"] for r in row["rubrics"] if r["points"] > 0)
        strict = sum(r["points"] for r in row["rubrics"] if "STUB-MET" in r["criterion"]) / positive
        expected[row["prompt_id"]] = (strict, sum(r["points"] for r in row["rubrics"]) / positive)
    assert "### Per example: lenient vs strict (full)" in written
    assert "3 examples scored by both" in written
    for pid, (a, b) in expected.items():
        assert f"| {pid} | {100 * a:.1f} | {100 * b:.1f} | {100 * (b - a):+.1f} |" in written
    report_json = tmp_path / "r.json"
    assert main(["--data", str(MINI), "--base-url", policy.url, "--grader-base-url", grader.url, "--db",
                 str(strict_db), "--out", str(report_json)]) == 0
    assert "per_example" not in json.loads(report_json.read_text())  # report.json keeps its keys


def test_differences_order_largest_first_and_skip_unscored() -> None:
    a = {"x": 0.5, "y": 0.2, "z": None, "only-a": 1.0}
    b = {"x": 0.4, "y": 0.9, "z": 0.3, "only-b": 0.0}
    assert differences(a, b) == [("y", 0.2, 0.9), ("x", 0.5, 0.4)]
