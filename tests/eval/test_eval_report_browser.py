"""eval.healthbench's report.html in real headless Chromium: the theme and axis filters work under the
page's CSP, and nothing but the page is loaded. The screenshot also goes to $MUSER_SCREENSHOTS if set."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from evalkit import MINI
from stub_server import StubServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "graph" / "report"))
from chromium import chromium_binary, visit

from eval.healthbench import main

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium_binary() is None, reason="chromium is not installed (apt-get install -y chromium)"),
]


def test_theme_and_axis_filters_work_in_chromium(policy: StubServer, grader: StubServer, tmp_path: Path) -> None:
    assert main(["--data", str(MINI), "--base-url", policy.url, "--grader-base-url", grader.url,
                 "--db", str(tmp_path / "p.sqlite"), "--out", str(tmp_path / "report.json")]) == 0
    choose = "var s = document.querySelector('select[name={name}]'); s.value = '{value}'; s.dispatchEvent(new Event('change'));"
    seen = visit(tmp_path / "report.html", tmp_path / "profile", {
        "cards": "document.querySelectorAll('details.ex').length",
        "visible": "[...document.querySelectorAll('details.ex')].filter(e => !e.hidden).map(e => e.querySelector('summary').textContent)",
        "rows": "[...document.querySelectorAll('details.ex:not([hidden]) tr.item')].filter(r => !r.hidden).length",
        "shown": "document.getElementById('shown').textContent",
    }, actions=[choose.format(name="axis", value="accuracy"),
                "[...document.querySelectorAll('details.ex')].forEach(e => { e.open = !e.hidden; });"])
    assert seen.errors == []
    assert seen.requests and all(u.startswith(("file:", "data:")) for u in seen.requests), seen.requests
    # the fixture's accuracy items: three in ex-fever and one in ex-rash; ex-sleep has none
    assert seen.values["cards"] == 3 and seen.values["shown"] == "2 of 3 examples shown"
    assert [v.split(" · ")[1].split()[0] for v in seen.values["visible"]] == ["ex-fever", "ex-rash"]
    assert seen.values["rows"] == 4
    (tmp_path / "eval-report.png").write_bytes(seen.screenshot)
    target = os.environ.get("MUSER_SCREENSHOTS")
    if target and Path(target).is_dir():
        (Path(target) / "eval-report.png").write_bytes(seen.screenshot)

    themed = visit(tmp_path / "report.html", tmp_path / "profile2", {
        "visible": "[...document.querySelectorAll('details.ex')].filter(e => !e.hidden).length"},
        actions=[choose.format(name="theme", value="context_seeking")])
    assert themed.errors == [] and themed.values["visible"] == 1
