"""The examples of report.html in real headless Chromium: the page's CSP lets its filter script run, the
filters hide and show items, and nothing but the page itself is loaded. Screenshots go to the test's tmp
directory, and also to $MUSER_SCREENSHOTS when it names a directory."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from chromium import chromium_binary, visit
from stubrun import stub_run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(chromium_binary() is None, reason="chromium is not installed (apt-get install -y chromium)"),
]

VISIBLE = "[...document.querySelectorAll('#{box} details.ex')].filter(e => !e.hidden).length"


def keep_screenshot(png: bytes, tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(png)
    target = os.environ.get("MUSER_SCREENSHOTS")
    if target and Path(target).is_dir():
        (Path(target) / name).write_bytes(png)


def test_examples_filters_work_in_chromium(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    stub_run(db, 12)
    conn = sqlite3.connect(db)  # two dropped items among the sample
    conn.execute("UPDATE results SET kept = 0, filter_reason = 'too_short' WHERE id IN (SELECT id FROM results LIMIT 2)")
    conn.commit()
    conn.close()
    out = tmp_path / "report"
    subprocess.run([sys.executable, "-m", "graph.report", "--db", str(db), "--out", str(out), "--no-plots"],
                   check=True, capture_output=True, timeout=120)
    page = out / "report.html"
    page.write_text(page.read_text().replace('<div class="examples">', '<div class="examples" id="box">', 1))
    choose = ("var s = document.querySelector('#box select[name={name}]'); s.value = '{value}'; "
              "s.dispatchEvent(new Event('change'));")
    seen = visit(page, tmp_path / "profile", {
        "all": "document.querySelectorAll('#box details.ex').length",
        "dropped": VISIBLE.format(box="box"),
        "shown": "document.querySelector('#box .shown').textContent",
    }, actions=[choose.format(name="kept", value="dropped"),
                "document.querySelector('#box').scrollIntoView();"
                "[...document.querySelectorAll('#box details.ex')].find(e => !e.hidden).open = true;"])
    assert seen.errors == []
    assert seen.requests and all(u.startswith(("file:", "data:")) for u in seen.requests), seen.requests
    assert seen.values["all"] == 12 and seen.values["dropped"] == 2
    assert seen.values["shown"] == "2 of 12 shown"  # the script ran: the CSP hash matches it
    keep_screenshot(seen.screenshot, tmp_path, "run-report-examples.png")

    back = visit(page, tmp_path / "profile2", {"visible": VISIBLE.format(box="box")},
                 actions=[choose.format(name="kept", value="dropped"), choose.format(name="kept", value=""),
                          choose.format(name="facets", value="decision")])
    facet_hits = page.read_text().split("<h2>Dropped items")[0].count('data-facets="decision')  # not the gallery
    assert back.errors == [] and 0 < back.values["visible"] == facet_hits < 12
