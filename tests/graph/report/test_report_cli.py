"""python -m graph.report as a user runs it: files written, --compare, and bad input refused with one
line and exit code 2 before anything is written."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from handmade import build

from graph.report.__main__ import main


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return build(tmp_path / "run.sqlite")


def test_summary_json_html_and_plots(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "graph.report", "--db", str(db), "--out", str(out),
                           "--price-in", "3", "--price-out", "15"], capture_output=True, text=True, timeout=120,
                          env=os.environ | {"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    assert "completeness = incomplete" in proc.stdout and "66.7% [20.8–93.9] n=3" in proc.stdout
    assert f"python -m graph.trace --db {db} --id" in proc.stdout
    data = json.loads((out / "report.json").read_text())
    assert data["outcome"]["results"] == 6 and data["cost"]["price"]["total_usd"] == pytest.approx(0.008655)
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 8  # 7 attribute plots + lengths
    assert f"python -m graph.trace --db {db} --id 4" in page
    assert "http://" not in page and "https://" not in page
    assert {p.name for p in out.glob("*.png")} >= {"context_completeness.png", "context_role.png", "lengths.png"}


def test_compare_puts_both_runs_side_by_side(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = build(tmp_path / "other.sqlite")
    conn = sqlite3.connect(other)
    conn.execute("UPDATE results SET kept = 0, filter_reason = 'too_short' WHERE id = 0")
    conn.commit()
    conn.close()
    out = tmp_path / "cmp"
    assert main(["--db", str(db), "--compare", str(other), "--out", str(out), "--no-plots"]) == 0
    data = json.loads((out / "report.json").read_text())
    assert (data["outcome"]["kept"]["k"], data["compare"]["outcome"]["kept"]["k"]) == (4, 3)
    page = (out / "report.html").read_text()
    assert page.count('<div class="col">') == 2 * 7  # seven sections, two runs each
    assert str(other) in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--db", "{missing}"], "does not exist"),
    (["--db", "{text}"], "not an SQLite database"),
    (["--db", "{db}", "--price-in", "3"], "pass both --price-in and --price-out"),
    (["--db", "{db}", "--price-in", "-1", "--price-out", "2"], "--price-in -1.0 is not a price"),
    (["--db", "{db}", "--price-in", "nan", "--price-out", "2"], "is not a price"),
    (["--db", "{db}", "--out", "{text}"], "exists and is not a directory"),
    (["--db", "{db}", "--out", "{text}/sub"], "is not a writable directory"),
    (["--db", "{db}", "--compare", "{db}"], "same store"),
    (["--db", "{db}", "--compare", "{missing}"], "does not exist"),
    (["--db", "{db}", "--top", "0"], "--top 0 must be at least 1"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         args: list[str], message: str) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    out = tmp_path / "out"
    names = {"missing": str(tmp_path / "nope.sqlite"), "text": str(text), "db": str(db)}
    argv = [a.format(**names) for a in args]
    if "--out" not in argv:
        argv += ["--out", str(out)]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not out.exists()
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert text.read_text() == "hello"


def test_stored_text_is_shown_literally(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    conn = sqlite3.connect(db)
    conn.execute("UPDATE queries SET attributes = json_set(attributes, '$.intent', '[/]<b>loud</b>') WHERE id = 0")
    conn.commit()
    conn.close()
    assert main(["--db", str(db), "--out", str(tmp_path / "r"), "--no-plots"]) == 0
    assert "intent = [/]<b>loud</b>" in capsys.readouterr().out  # not read as rich markup
    page = (tmp_path / "r" / "report.html").read_text()
    assert "[/]&lt;b&gt;loud&lt;/b&gt;" in page and "<b>loud" not in page
