"""report.html's examples: a seeded sample read by id, every stored text escaped on the page, the verdict
reasons, the filters and the dropped-items gallery; and the terminal tables fit 80 columns with --compare."""

from __future__ import annotations

import html
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from handmade import build
from stubrun import stub_run

from graph.report.examples import collect, gallery_ids, sample_ids
from graph.report.examples_html import word_diff
from graph.report.source import open_store


@pytest.fixture(scope="module")
def stub_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    tmp = tmp_path_factory.mktemp("stubrun")
    db = tmp / "run.sqlite"
    stub_run(db, 12)
    conn = sqlite3.connect(db)  # one dropped item, so the gallery has something to show
    conn.execute("UPDATE results SET kept = 0, filter_reason = 'too_short' WHERE id = (SELECT min(id) FROM results)")
    conn.commit()
    conn.close()
    proc = subprocess.run([sys.executable, "-m", "graph.report", "--db", str(db), "--out", str(tmp / "r"), "--no-plots",
                           "--examples", "5"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return db, (tmp / "r" / "report.html").read_text(encoding="utf-8")


def test_sampled_items_show_their_stored_texts_escaped(stub_report: tuple[Path, str]) -> None:
    db, page = stub_report
    section = page[page.index("<h2>Examples"):page.index("<h2>Dropped items")]
    ids = [int(i) for i in re.findall(r"<summary><b>id (\d+)</b>", section)]
    assert len(ids) == 5 and len(set(ids)) == 5
    conn = sqlite3.connect(db)
    for item_id in ids:
        query, answer, refined, rationales, kept, reason = conn.execute(
            "SELECT q.query, r.answer, r.refined_answer, r.rationales, r.kept, r.filter_reason FROM results r "
            "JOIN queries q ON q.id = r.id WHERE r.id = ?", (item_id,)).fetchone()
        assert f"<pre>{html.escape(query, quote=True)}</pre>" in section
        assert f"<pre>{html.escape(answer, quote=True)}</pre>" in section
        for word in set(refined.split()) - set(answer.split()):
            assert "<ins>" in section and html.escape(word, quote=True) in section
        for lines in json.loads(rationales).values():
            for line in lines:
                assert f"<li>{html.escape(line, quote=True)}</li>" in section  # "[/]" and quotes stay text
        assert ("kept" if kept else f"dropped: {reason}") in section
    conn.close()
    for name in ("kept", "reason", "facets", "role", "refiner"):
        assert f'<select class="exf" name="{name}">' in section
    assert re.search(r'data-facets="[^"]*decision', section) and 'data-role="' in section


def test_the_gallery_shows_dropped_items_by_reason(stub_report: tuple[Path, str]) -> None:
    _, page = stub_report
    gallery = page[page.index("<h2>Dropped items by reason"):]
    assert "<h3>too_short (1 shown)</h3>" in gallery and "dropped: too_short" in gallery
    assert "script-src 'sha256-" in page and "script-src 'unsafe-inline'" not in page


def test_the_sample_is_seeded_bounded_and_read_by_primary_key(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "ids.sqlite")
    conn.execute("CREATE TABLE results (id INTEGER PRIMARY KEY, kept INTEGER, filter_reason TEXT)")
    conn.executemany("INSERT INTO results VALUES (?, ?, ?)",
                     [(i, i % 5 != 0, None if i % 5 else ("too_short" if i % 2 else "refused")) for i in range(0, 30000, 3)])
    first, again, other = sample_ids(conn, 50, 7), sample_ids(conn, 50, 7), sample_ids(conn, 50, 8)
    assert first == again and first != other and len(first) == 50 and all(i % 3 == 0 for i in first)
    assert sample_ids(conn, 50_000, 7) == list(range(0, 30000, 3))  # more than stored: every id, once
    for sql in ("SELECT id FROM results WHERE id >= 5 ORDER BY id LIMIT 1", "SELECT min(id) FROM results",
                "SELECT max(id) FROM results"):  # what sample_ids asks: no full scan
        plan = " ".join(str(r) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert "SEARCH" in plan and "SCAN" not in plan, (sql, plan)
    both = " ".join(str(r) for r in conn.execute("EXPLAIN QUERY PLAN SELECT min(id), max(id) FROM results"))
    assert "SCAN" in both  # the trap sample_ids avoids
    gallery = gallery_ids(conn, 3, 7)
    assert set(gallery) == {"too_short", "refused"} and all(len(v) == 3 for v in gallery.values())
    assert all(i % 5 == 0 and (i % 2 == 1) == (reason == "too_short") for reason, v in gallery.items() for i in v)
    assert gallery_ids(conn, 3, 7) == gallery and gallery_ids(conn, 3, 9) != gallery


def test_handmade_items_decode_fully(tmp_path: Path) -> None:
    conn = open_store(build(tmp_path / "h.sqlite"))
    data = collect(conn, 50, 0, "directref")
    conn.close()
    by_id = {i["id"]: i for i in data["sample"]}
    assert sorted(by_id) == [0, 1, 2, 3, 4, 5]  # six results; the failure (6) and the pending id (7) are not items
    assert by_id[4]["reason"] == "parse_failed:decision" and by_id[4]["facets"][0]["parse_error"]
    assert by_id[3]["refiner"] == "skipped" and by_id[0]["refiner"] == "directref"
    assert (by_id[0]["prompt_tokens"], by_id[0]["completion_tokens"], by_id[0]["latency_ms"]) == (1000, 165, 3000)
    assert set(data["gallery"]) == {"parse_failed:decision", "refused"}


def test_word_diff_marks_removed_and_added_words() -> None:
    assert word_diff("rest at home <b>", "rest in bed at home <b> today") == [
        ("same", "rest"), ("ins", "in bed"), ("same", "at home <b>"), ("ins", "today")]
    assert word_diff("a b c", "a x c") == [("same", "a"), ("del", "b"), ("ins", "x"), ("same", "c")]
    assert word_diff("same text", "same text") == [("same", "same text")]


def test_examples_flag_is_checked_before_anything_is_written(tmp_path: Path) -> None:
    db = build(tmp_path / "h.sqlite")
    proc = subprocess.run([sys.executable, "-m", "graph.report", "--db", str(db), "--out", str(tmp_path / "r"),
                           "--examples", "-1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("error: --examples -1 must be between 0 and")
    assert not (tmp_path / "r").exists()


def test_compare_tables_fit_80_columns_without_cutting(tmp_path: Path) -> None:
    a, b = build(tmp_path / "a.sqlite"), build(tmp_path / "b.sqlite")
    proc = subprocess.run([sys.executable, "-m", "graph.report", "--db", str(a), "--compare", str(b), "--out",
                           str(tmp_path / "r"), "--no-plots"], capture_output=True, text=True, timeout=120,
                          env=os.environ | {"COLUMNS": "80"})
    assert proc.returncode == 0, proc.stderr
    tables = [line for line in proc.stdout.splitlines() if set(line) & set("│┃┏┡└")]  # paths may soft-wrap
    assert len(tables) > 50 and max(len(line) for line in tables) <= 80 and "…" not in proc.stdout
    assert f"A = {a}  B = {b}" in proc.stdout and "Facets — A" in proc.stdout and "Facets — B" in proc.stdout
