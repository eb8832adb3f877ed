"""An output path that is (or resolves to) one of the command's inputs is refused before anything is written:
export, training.data, merge, report and eval.*. Each input is checked byte for byte afterwards."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from procfs import children
from storekit import RULES, cli, digest, one_line_error, start, wait_for
from stub_server import StubServer


@pytest.fixture
def run_store(stub: StubServer, tmp_path: Path) -> Path:
    """A small finished graph.run store."""
    stub.rules = list(RULES)
    db = tmp_path / "s.sqlite"
    cli("graph.run", "--n", "4", "--db", str(db), "--base-url", stub.url, check=True)
    return db


def test_export_onto_its_store_is_refused(run_store: Path, tmp_path: Path) -> None:
    before = digest(run_store)
    (tmp_path / "alias.sqlite").symlink_to(run_store)
    for out in (run_store, tmp_path / "alias.sqlite", Path(os.path.relpath(run_store))):
        one_line_error(cli("graph.export", "--db", str(run_store), "--what", "sr", "--out", str(out)),
                       "is the same file as the input --db")
    assert digest(run_store) == before


def test_training_data_into_a_directory_holding_its_store_is_refused(run_store: Path, tmp_path: Path) -> None:
    one_line_error(cli("training.data", "--db", str(run_store), "--stage", "sr", "--out", str(run_store)),
                   "is the same file as the input --db")
    out = tmp_path / "dataset"
    out.mkdir()
    inside = out / "data_card.json"  # a store that happens to carry the name of a file the build writes
    os.link(run_store, inside)
    before = digest(run_store)
    one_line_error(cli("training.data", "--db", str(inside), "--stage", "sr", "--out", str(out)),
                   "data_card.json is the same file as the input --db")
    assert digest(run_store) == before and sorted(p.name for p in out.iterdir()) == ["data_card.json"]


def test_merge_onto_one_of_its_inputs_is_refused(run_store: Path) -> None:
    before = digest(run_store)
    one_line_error(cli("graph.merge", str(run_store), "-o", f"./{os.path.relpath(run_store)}"),
                   "is the same file as the input")
    assert digest(run_store) == before


def test_report_over_its_store_is_refused(run_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    inside = out / "report.json"
    os.link(run_store, inside)
    before = digest(run_store)
    one_line_error(cli("graph.report", "--db", str(inside), "--out", str(out), "--no-plots"),
                   "report.json is the same file as the input --db")
    assert digest(run_store) == before


def test_eval_outputs_onto_inputs_are_refused(tmp_path: Path) -> None:
    responses, meta, store = tmp_path / "responses.jsonl", tmp_path / "meta.jsonl", tmp_path / "e.sqlite"
    for path in (responses, meta, store):
        path.write_text('{"prompt_id": "x", "response": "hello"}\n')
    digests = {p: digest(p) for p in (responses, meta, store)}
    base = ("eval.healthbench", "--data", "bundled", "--db", str(store), "--responses", str(responses),
            "--grader-base-url", "http://127.0.0.1:9/v1")
    one_line_error(cli(*base, "--out", str(responses)), "is the same file as the input --responses")
    one_line_error(cli(*base, "--out", str(store)), "is the same file as the input --db")
    (tmp_path / "plots").mkdir()
    os.link(store, tmp_path / "plots" / "axes.png")
    one_line_error(cli(*base, "--plots", str(tmp_path / "plots")), "axes.png is the same file as the input --db")
    one_line_error(cli("eval.meta", "--data", str(meta), "--out", str(meta), "--grader-base-url",
                       "http://127.0.0.1:9/v1"), "is the same file as the input --data")
    one_line_error(cli("eval.compare", str(store), "--out", str(store)), "is the same file as the input db")
    assert {p: digest(p) for p in digests} == digests


def test_export_stopped_by_sigterm_leaves_no_partial_file(tmp_path: Path) -> None:
    """A big store so the export is still writing, with the gate's workers, when the signal arrives."""
    import sys

    sys.path.append(str(Path(__file__).parents[1] / "training"))
    from training_store import store_rows, write_store

    rows = store_rows(12)
    db = write_store(tmp_path / "big.sqlite", ({**r, "id": i + 1, "query": f"{r['query']} (case {i})"}
                                               for i in range(60000) for r in [rows[i % 12]]))
    out = tmp_path / "sr.jsonl"
    partial = tmp_path / "sr.jsonl.partial"
    proc = start("graph.export", "--db", str(db), "--what", "sr", "--out", str(out), "--gate-workers", "2")
    wait_for("the export to start writing", lambda: partial.exists() and partial.stat().st_size > 0, timeout=120)
    if Path("/proc").is_dir():  # past its first 4,096 rows the gate judges in two worker processes
        wait_for("the gate's workers", lambda: len(children(proc.pid)) == 2 or proc.poll() is not None, timeout=60)
    os.killpg(proc.pid, signal.SIGTERM)  # the whole group, as `timeout` or a service manager does: workers too
    try:
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # a hung export must not outlive the test
    time.sleep(0.1)
    assert not partial.exists() and not out.exists()
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")  # the gate's workers stop quietly with the export
    assert "Traceback" not in err and "ForkPoolWorker" not in err, err[-2000:]
