"""Every report figure from the hand-made store (tests/graph/report/handmade.py), worked out by hand;
the store is only read, and a store another connection is writing is reported at its snapshot."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from handmade import attrs, build

from graph.report.build import report_for
from graph.report.figures import wilson
from graph.report.source import ReportError, open_store


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return report_for(build(tmp_path_factory.mktemp("h") / "h.sqlite"), price_in=3.0, price_out=15.0)


def cell(report: dict[str, Any], attribute: str, value: str, facet: str) -> tuple[int, int]:
    c = next(c for c in report["context"]["attributes"][attribute] if c["value"] == value and c["facet"] == facet)
    return c["k"], c["n"]


def test_outcome(report: dict[str, Any]) -> None:
    o = report["outcome"]
    assert (o["expected"], o["results"], o["failures"], o["pending"]) == (8, 6, 1, 1)
    assert (o["kept"]["k"], o["kept"]["n"]) == (4, 6)
    assert o["dropped"] == {"parse_failed:decision": {"count": 1, "example_id": 4}, "refused": {"count": 1, "example_id": 5}}
    assert (o["refined"], o["skipped"]) == (4, 2)
    assert o["failures_by"] == [{"stage": "generate", "error_class": "http_500", "count": 1, "example_id": 6}]


def test_facets(report: dict[str, Any]) -> None:
    f = report["facets"]
    assert list(f) == ["decision", "communication", "safety"]  # the run's order
    d = f["decision"]
    # lacking: ids 0 and 1; parse failure: id 4; N/A: ids 2, 3, 5
    assert (d["evaluated"], d["lacking"], d["na"], d["parse_failed"]) == (6, 2, 3, 1)
    assert d["lacking_rate"] == wilson(2, 5)  # parse failures are not in n
    assert d["rationale_counts"] == {"0": 3, "1": 1, "2": 1}
    # mean r'−r0 over refined answers by this facet's rationale count: id 2 (−10); id 1 (+30); id 0 (+20)
    assert d["by_count"] == [{"rationales": 0, "refined": 1, "mean_delta_words": -10.0},
                             {"rationales": 1, "refined": 1, "mean_delta_words": 30.0},
                             {"rationales": 2, "refined": 1, "mean_delta_words": 20.0}]
    assert d["example_id"] == 0
    assert d["openings"][0] == {"opening": "we should ask about", "count": 2, "share": pytest.approx(2 / 3), "example_id": 0}
    assert d["openings"][1]["opening"] == "we should ask how"
    c = f["communication"]
    assert (c["lacking"], c["na"], c["rationale_counts"]) == (2, 4, {"0": 4, "1": 2})
    # refined with no communication rationale: id 0 (+20) and id 4 (+15); with one: id 1 (+30), id 2 (−10)
    assert [b["mean_delta_words"] for b in c["by_count"]] == [17.5, 10.0]
    assert c["example_id"] == 1
    assert f["safety"]["example_id"] == 0  # id 4 also fired but was dropped


def test_context_answers_the_completeness_question(report: dict[str, Any]) -> None:
    ctx = report["context"]
    assert ctx["home_country"] == "United States"
    # decision on incomplete queries: ids 0, 1 fired, 5 did not, 4 is a parse failure (left out)
    assert cell(report, "completeness", "incomplete", "decision") == (2, 3)
    assert cell(report, "completeness", "complete", "decision") == (0, 2)
    assert cell(report, "role", "doctor", "communication") == (1, 1)
    assert cell(report, "role", "patient", "communication") == (1, 4)
    assert cell(report, "role", "caregiver", "decision") == (0, 0)
    assert cell(report, "country", "home", "decision") == (1, 4)
    assert cell(report, "country", "other", "decision") == (1, 1)
    assert cell(report, "setting", "rural", "safety") == (1, 1)
    incomplete = next(c for c in ctx["attributes"]["completeness"] if c["value"] == "incomplete" and c["facet"] == "decision")
    assert (incomplete["low"], incomplete["high"]) == (wilson(2, 3)["low"], wilson(2, 3)["high"])


def test_refinement(report: dict[str, Any]) -> None:
    r = report["refinement"]
    assert r["refined"] == 4
    assert r["words_r0"]["mean"] == 57.5 and r["words_r0"]["p50"] == 40  # 60, 40, 100, 30
    assert r["words_r1"]["mean"] == 71.25 and r["words_r1"]["p50"] == 70  # 80, 70, 90, 45
    assert r["delta_words"]["mean"] == 13.75
    assert (r["asks_question_r0"]["k"], r["asks_question_r1"]["k"], r["asks_question_r1"]["n"]) == (0, 1, 4)
    assert r["words_final_all"]["mean"] == 57.5  # 80 + 70 + 90 + 55 + 45 + 5 over 6


def test_cost(report: dict[str, Any]) -> None:
    c = report["cost"]
    nodes = {n["node"]: n for n in c["nodes"]}
    assert (nodes["generate"]["calls"], nodes["generate"]["prompt_tokens"], nodes["generate"]["completion_tokens"]) == (2, 210, 90)
    assert nodes["generate"]["latency_ms"]["p50"] == pytest.approx(1000, rel=0.005)
    assert nodes["generate"]["latency_ms"]["p90"] == pytest.approx(1500, rel=0.005)
    assert nodes["refine_directref"]["prompt_tokens"] == 600
    assert c["total"] == {"prompt_tokens": 1410, "completion_tokens": 295}
    assert c["per_kept"] == {"prompt_tokens": 352.5, "completion_tokens": 73.75}
    assert c["price"]["total_usd"] == pytest.approx(0.008655)
    assert c["price"]["per_kept_usd"] == pytest.approx(0.008655 / 4)
    # whole-item latencies 3000, 4000, 1000, 500, 800, 100 ms
    assert c["item_latency_ms"]["p50"] == pytest.approx(800, rel=0.005)
    assert c["item_latency_ms"]["p90"] == pytest.approx(4000, rel=0.005)


def test_teacher(report: dict[str, Any]) -> None:
    t = report["teacher"]
    assert (t["answers"], t["kept"]["k"], t["dropped"]) == (3, 2, {"too_short": 1})
    assert t["words"]["mean"] == pytest.approx(290 / 3)
    assert (t["prompt_tokens"], t["completion_tokens"]) == (60, 235)
    assert t["total_usd"] == pytest.approx((60 * 3 + 235 * 15) / 1e6)


def test_store_is_not_changed(tmp_path: Path) -> None:
    db = build(tmp_path / "h.sqlite")
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    report_for(db)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    conn = open_store(db)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM results")
    conn.close()


def test_a_store_being_written_is_read_at_its_snapshot(tmp_path: Path) -> None:
    db = build(tmp_path / "h.sqlite")
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    # a committed row that lives only in the WAL, then an open write transaction holding the write lock
    writer.execute("INSERT INTO failures (id, stage, error_class, message, attempts) VALUES (7, 'query', 'x', 'y', 1)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO queries (id, attributes, query) VALUES (8, ?, 'q')", (json.dumps(attrs("doctor", "complete")),))
    writer.execute("INSERT INTO results (id, answer, rationales, refined_answer, refined, kept) VALUES (8, 'a', '{}', 'a', 0, 1)")
    try:
        assert (tmp_path / "h.sqlite-wal").stat().st_size > 0
        o = report_for(db)["outcome"]
        assert (o["results"], o["failures"], o["kept"]["k"]) == (6, 2, 4)  # the uncommitted result is not seen
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_bad_stores_are_refused_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="does not exist"):
        open_store(tmp_path / "missing.sqlite")
    (tmp_path / "text.sqlite").write_text("not a database")
    with pytest.raises(ReportError, match="not an SQLite database"):
        open_store(tmp_path / "text.sqlite")
    other = sqlite3.connect(tmp_path / "other.sqlite")
    other.execute("CREATE TABLE t (x)")
    other.commit()
    other.close()
    with pytest.raises(ReportError, match="not a MuSeR run store"):
        open_store(tmp_path / "other.sqlite")


def test_empty_store_reports_zeros(tmp_path: Path) -> None:
    from graph.store.db import Store

    Store.open(tmp_path / "empty.sqlite", create=True).close()
    r = report_for(tmp_path / "empty.sqlite")
    assert (r["outcome"]["results"], r["outcome"]["kept"]["rate"], r["facets"], r["teacher"]) == (0, None, {}, None)
    assert r["refinement"]["words_r0"]["mean"] is None
