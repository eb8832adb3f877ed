"""report.html in real headless Chromium (Debian's `chromium` package): it loads with no console
error, asks for nothing but itself and inline data, and shows every plot and table."""

from __future__ import annotations

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

EXPRESSIONS = {
    "images": "[...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0, "
              "w: i.getBoundingClientRect().width, h: i.getBoundingClientRect().height}))",
    "sections": "[...document.querySelectorAll('h2')].map(h => h.textContent)",
    "commands": "document.querySelectorAll('td.trace code').length",
    "copy_label": "document.querySelector('button.copy').textContent",
}


def test_report_page_in_chromium(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    stub_run(db, 12)
    out = tmp_path / "report"
    subprocess.run([sys.executable, "-m", "graph.report", "--db", str(db), "--out", str(out)],
                   check=True, capture_output=True, timeout=120)
    seen = visit(out / "report.html", tmp_path / "profile", EXPRESSIONS,
                 actions=["document.querySelector('button.copy').click()"])

    assert seen.errors == []
    assert seen.requests and all(u.startswith(("file:", "data:")) for u in seen.requests), seen.requests
    images = seen.values["images"]
    assert len(images) == 8  # seven attribute breakdowns and the length distributions
    assert all(i["ok"] and i["w"] > 200 and i["h"] > 100 for i in images), images
    assert seen.values["sections"][:4] == ["Outcome", "Facets", "Commonest rationale openings",
                                           "Facet trigger rate by user context"]
    assert seen.values["commands"] > 0
    assert seen.values["copy_label"] in ("copied", "select and copy")  # the click handler ran
    assert seen.screenshot.startswith(b"\x89PNG")


def test_a_page_with_an_error_is_caught(tmp_path: Path) -> None:
    """The check can fail: a script error and a remote image are both reported."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png"><script>nope()</script></body></html>')
    seen = visit(page, tmp_path / "profile", {})
    assert any("nope" in e for e in seen.errors)
    assert any(u.startswith("http://127.0.0.1:9/") for u in seen.requests)
