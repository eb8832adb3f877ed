"""Meta-evaluation: agreement maths on self-written rows computed by hand, and python -m eval.meta end to end.

Rows (grader verdict → physician labels): r1 cat-a T → [T, T, F] by p1, p2, p3; r2 cat-a F → [F, T] by
p1, p2; r3 cat-b T → [F] by p3. Model pairs: (T,T) (T,T) (T,F) | (F,F) (F,T) | (T,F).
precision_pos 2/4, precision_neg 1/2, recall_pos 2/3, recall_neg 1/3;
f1_pos = 2·½·⅔ / (½+⅔) = 4/7, f1_neg = 2·½·⅓ / (½+⅓) = 2/5, f1_balanced = (4/7 + 2/5) / 2 = 17/35.
cat-a: precision 2/3 and 1/2, recall 2/3 and 1/2, f1_balanced (2/3 + 1/2) / 2 = 7/12; cat-b has one class.
Physicians: p1 pairs (T,T) (T,F) (F,T): f1_pos ½, f1_neg 0, balanced ¼; p2 never says F (no balanced);
p3 never says T (no F1 at all). The physicians' baseline f1_balanced is therefore p1's ¼.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from evalkit import write_jsonl
from stub_server import StubServer

from eval.meta.agreement import mean_over_physicians, physician_agreement, rater_agreement
from eval.meta.cli import main

VERDICTS = [True, False, True]
LABELS = [[True, True, False], [False, True], [False]]
IDS = [["p1", "p2", "p3"], ["p1", "p2"], ["p3"]]
CATEGORIES = ["cat-a", "cat-a", "cat-b"]
RUBRICS = [
    "[5] STUB-MET Mentions drinking fluids.",
    "[3] Asks the child's age.",
    "[-4] STUB-MET Suggests antibiotics.",
]


def value(metrics: dict[str, Any], name: str) -> float:
    return float(metrics[name]["value"])


def test_model_agreement_by_hand() -> None:
    m = rater_agreement(VERDICTS, LABELS, CATEGORIES)
    assert (
        value(m, "pairwise_model_precision_pos") == pytest.approx(2 / 4)
        and m["pairwise_model_precision_pos"]["n"] == 4
    )
    assert value(m, "pairwise_model_precision_neg") == pytest.approx(1 / 2)
    assert value(m, "pairwise_model_recall_pos") == pytest.approx(2 / 3)
    assert value(m, "pairwise_model_recall_neg") == pytest.approx(1 / 3)
    assert value(m, "pairwise_model_f1_pos") == pytest.approx(4 / 7)
    assert value(m, "pairwise_model_f1_neg") == pytest.approx(2 / 5)
    assert value(m, "pairwise_model_f1_balanced") == pytest.approx(17 / 35)
    assert value(m, "cat-a: pairwise_model_f1_balanced") == pytest.approx(7 / 12)
    assert value(m, "cat-b: pairwise_model_precision_pos") == 0.0
    assert "cat-b: pairwise_model_f1_pos" not in m and "cat-b: pairwise_model_f1_balanced" not in m


def test_physician_agreement_by_hand() -> None:
    per = physician_agreement(LABELS, IDS, CATEGORIES)
    assert value(per["p1"], "pairwise_physician_f1_pos") == pytest.approx(0.5)
    assert value(per["p1"], "pairwise_physician_f1_neg") == 0.0
    assert value(per["p1"], "pairwise_physician_f1_balanced") == pytest.approx(0.25)
    assert "pairwise_physician_f1_balanced" not in per["p2"]
    assert not any("f1" in name for name in per["p3"])
    assert mean_over_physicians(per, "pairwise_physician_f1_balanced") == pytest.approx(0.25)


def meta_rows() -> list[dict[str, Any]]:
    return [
        {
            "prompt": [{"role": "user", "content": f"My child has a fever, question {i}."}],
            "completion": f"Reply number {i}.",
            "rubric": rubric,
            "category": category,
            "binary_labels": labels,
            "anonymized_physician_ids": ids,
        }
        for i, (rubric, category, labels, ids) in enumerate(
            zip(RUBRICS, CATEGORIES, LABELS, IDS, strict=True)
        )
    ]


def grade(body: dict[str, Any]) -> str:
    met = "STUB-MET" in body["messages"][-1]["content"].split("# Rubric item", 1)[-1]
    return "```json\n" + json.dumps({"explanation": "stub", "criteria_met": met}) + "\n```"


def test_meta_cli_reproduces_the_hand_computed_agreement(
    servers: Callable[..., StubServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("eval_framework.tasks.healthbench_task")
    grader = servers("grader-model", grade)
    data, out = write_jsonl(tmp_path / "meta.jsonl", meta_rows()), tmp_path / "meta.json"
    assert main(["--data", str(data), "--grader-base-url", grader.url, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["score"] == pytest.approx(17 / 35)
    assert report["metrics"]["cat-a: pairwise_model_f1_balanced"] == pytest.approx(7 / 12)
    assert report["physician_baseline"]["pairwise_model_f1_balanced"] == pytest.approx(0.25)
    assert (report["n_rows"], report["grading_failures"]) == (3, 0)
    assert report["grading"]["prompt"] == "reference"
    assert len(grader.requests) == 3 and all(b["messages"][0]["role"] == "system" for b in grader.requests)
    assert "Reply number 1." in grader.requests[1]["messages"][-1]["content"]
    printed = capsys.readouterr().out
    assert "48.6" in printed and "58.3" in printed and "25.0" in printed


def test_meta_bad_row_is_one_line(
    servers: Callable[..., StubServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grader = servers("grader-model", grade)
    rows = meta_rows()
    rows[1]["anonymized_physician_ids"] = ["p1"]
    data = write_jsonl(tmp_path / "meta.jsonl", rows)
    assert main(["--data", str(data), "--grader-base-url", grader.url, "--grader-prompt", "muser"]) == 2
    err = capsys.readouterr().err
    assert f"{data} line 2: anonymized_physician_ids" in err and err.count("\n") == 1
    assert grader.requests == []
