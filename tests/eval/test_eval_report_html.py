"""eval.healthbench's report.html: every graded example with each rubric item's points, met flag and the
grader's explanation, worst first, escaped; from a real run against stub servers and from hand-made grades."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from evalkit import MINI, mini_rows
from stub_server import StubServer

from eval.data.examples import Example, RubricItem
from eval.healthbench import main
from eval.reports.html import graded, page


def test_the_run_writes_every_rubric_item_with_its_met_flag(policy: StubServer, grader: StubServer,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert main(["--data", str(MINI), "--base-url", policy.url, "--grader-base-url", grader.url,
                 "--db", str(tmp_path / "p.sqlite"), "--out", str(out)]) == 0
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    cards = re.findall(r'<details class="ex".*?</details>', text, flags=re.S)
    # worst first: sleep (5 - 8) / 10 = -30%, fever 11 / 22 = 50%, rash 10 / 10 = 100% (hand-computed)
    assert [re.search(r'class="score">([^<]+)<', c).group(1) for c in cards] == ["-30.0%", "50.0%", "100.0%"]
    for card, row in zip(cards, sorted(mini_rows(), key=lambda r: ["ex-sleep", "ex-fever", "ex-rash"].index(r["prompt_id"])),
                         strict=True):
        assert row["prompt_id"] in card
        items = re.findall(r'<tr class="item".*?</tr>', card, flags=re.S)
        assert len(items) == len(row["rubrics"])
        for item, rubric in zip(items, row["rubrics"], strict=True):
            assert html.escape(rubric["criterion"], quote=True) in item
            assert f'<td class="pts">{rubric["points"]}</td>' in item
            flag = "met" if "STUB-MET" in rubric["criterion"] else "unmet"
            assert f'<span class="{flag}">{flag}</span>' in item and "stub verdict" in item
        for turn in row["prompt"]:
            assert html.escape(turn["content"], quote=True) in card
    assert '<select class="f" name="theme">' in text and '<option value="context_seeking">' in text
    assert '<select class="f" name="axis">' in text and '<option value="accuracy">' in text
    assert "script-src 'sha256-" in text and "http" not in text.replace("http-equiv", "")


def test_model_and_data_text_is_escaped_and_failed_items_are_named() -> None:
    ex = Example("p<1>", ({"role": "user", "content": "<script>alert(1)</script>"},),
                 (RubricItem("Says <b>rest</b>", 4, ("axis:accuracy",)), RubricItem("Mentions & names", 6, ("axis:completeness",))),
                 ("theme:hedging",))
    items = graded([ex], {("p<1>", 0): [True, None]}, {("p<1>", 0): ["fine <i>", "grading failed: timeout"]},
                   {"p<1>": "</pre><img src=x onerror=alert(1)>"})
    text = page(items, "t", "h")
    assert "<script>alert(1)" not in text and "<img src=x" not in text and "<b>rest</b>" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "fine &lt;i&gt;" in text
    assert '<span class="failed">not graded</span>' in text and "grading failed: timeout" in text
    assert "incomplete (an item was not graded)" in text


def test_scores_order_worst_first_across_repeats() -> None:
    ex = Example("a", ({"role": "user", "content": "q"},), (RubricItem("x", 5), RubricItem("y", 5)))
    met = {("a", 0): [True, True], ("a", 1): [False, True]}
    items = graded([ex], met, {}, {"a": "first", "a#1": "second"}, repeats=2)
    assert [(g["repeat"], g["score"], g["response"]) for g in items] == [(1, 0.5, "second"), (0, 1.0, "first")]


def test_plain_progress_lines_carry_timestamps(policy: StubServer, grader: StubServer, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", str(MINI), "--base-url", policy.url, "--grader-base-url", grader.url,
                 "--db", str(tmp_path / "p.sqlite")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "[eval]" in line]
    items = sum(len(r["rubrics"]) for r in mini_rows())
    assert lines and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[eval\] responses 3/3 \(0 failed\) "
                              rf"grades {items}/{items} \(0 failed\) rate [\d.,]+ grades/(s|min) eta 0:00:00 elapsed ",
                              lines[-1]), lines
