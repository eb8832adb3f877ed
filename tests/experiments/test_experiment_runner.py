"""The experiment runner on the scripted stub server: every data stage runs once, a second run skips them all,
an edit redoes what depends on it and says why, a kill continues where it stopped, and two runners, another
experiment's directory or a failing stage are refused in one line."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from experimentkit import kill_inside, runner, stages
from stub_server import StubServer

from experiments.manifest import locked

RULES = [("Context to check", "We should ask the user about their age."), ("pitched its answer", "N/A"),
         ("Perspectives to check", "N/A")]


def spec(tmp_path: Path, url: str, **run: Any) -> Path:
    data = {"version": 1, "name": "stubbed",
            "models": {"backbone": {"url": url}, "teacher": {"url": url}},
            "run": {"n": 4, "seed": 0, "profile": "paper", **run},
            "train": {"kd": {"recipe": "smollm2-135m/kd.yaml"}, "sr": {"recipe": "smollm2-135m/sr.yaml"}}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def teacher_rows(out: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{out / 'run.sqlite'}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT count(*) FROM teacher").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:  # not created yet
        return 0


def run_data(*args: str | Path) -> Any:
    """The data stages only (training has its own test, tests/training/test_training_experiment_stages.py)."""
    return runner(*args, "--until", "sr_data")


@pytest.fixture
def server() -> Any:
    stub = StubServer(rules=list(RULES), record=False).start()
    yield stub
    stub.stop()


def test_runs_once_skips_after_and_redoes_what_an_edit_touches(server: StubServer, tmp_path: Path) -> None:
    out, path = tmp_path / "exp", spec(tmp_path, server.url)
    first = run_data(path, "--out", out)
    assert first.returncode == 0, first.stdout + first.stderr
    done = stages(out)
    assert list(done) == ["graphs", "teacher", "kd_data", "sr_data"]
    assert all(s["status"] == "done" and s["exit"] == 0 and s["versions"] for s in done.values())
    assert done["graphs"]["command"].startswith("python -m graph.run --db ") and "--n 4" in done["graphs"]["command"]
    assert (out / "data" / "kd" / "train.jsonl").stat().st_size and (out / "data" / "sr" / "train.jsonl").stat().st_size
    assert "graph.run" in (out / "logs" / "graphs.log").read_text(encoding="utf-8")

    start = time.monotonic()
    again = run_data(path, "--out", out)
    assert again.returncode == 0 and again.stdout.count("skip ") == 4, again.stdout
    assert time.monotonic() - start < 20
    dry = run_data(path, "--out", out, "--dry-run")
    assert dry.stdout.count("skip ") == 4 and "python -m training.data" in dry.stdout

    grown = spec(tmp_path, server.url, n=6)  # a larger N: graph.run continues the same store
    plan = run_data(grown, "--out", out, "--dry-run")  # the plan counts only the ids not yet stored
    assert "redo  graphs: changed: run.n 4 → 6" in plan.stdout and "2 of 6 ids to run" in plan.stdout, plan.stdout
    proc = run_data(grown, "--out", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "redo  graphs: changed: run.n 4 → 6" in proc.stdout and "redo  sr_data: " in proc.stdout
    assert "superseded" not in proc.stdout
    conn = sqlite3.connect(out / "run.sqlite")
    assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == 6
    assert conn.execute("SELECT count(*) FROM teacher").fetchone()[0] == 6
    conn.close()

    reseeded = spec(tmp_path, server.url, n=6, seed=1)  # another run: the old store is set aside, never deleted
    proc = run_data(reseeded, "--out", out)
    assert proc.returncode == 0 and "changed: run.seed 0 → 1" in proc.stdout, proc.stdout + proc.stderr
    assert list((out / "superseded").glob("graphs-*/run.sqlite"))


def test_refusals_in_one_line(server: StubServer, tmp_path: Path) -> None:
    out, path = tmp_path / "exp", spec(tmp_path, server.url)
    with locked(out):
        proc = run_data(path, "--out", out)
    assert proc.returncode == 2 and f"pid {os.getpid()}" in proc.stderr and proc.stderr.count("\n") == 1

    (out / "manifest.json").write_text(json.dumps({"experiment": "other", "stages": {}}), encoding="utf-8")
    proc = run_data(path, "--out", out)
    assert proc.returncode == 2 and "holds experiment 'other'" in proc.stderr
    (out / "manifest.json").unlink()

    broken = spec(tmp_path, "http://127.0.0.1:9/v1")  # nothing listens there: graph.run fails, the chain stops
    proc = run_data(broken, "--out", out)
    assert proc.returncode == 2 and "stage graphs failed (exit" in proc.stderr and "logs/graphs.log" in proc.stderr
    assert stages(out)["graphs"]["status"] == "failed" and "teacher" not in stages(out)


def test_a_kill_inside_graph_run_continues_without_redoing_the_finished_stage(tmp_path: Path) -> None:
    stub = StubServer(rules=list(RULES), record=False, latency_ms=150).start()
    try:
        out, path = tmp_path / "exp", spec(tmp_path, stub.url, n=12, concurrency=2)
        kill_inside(runner(path, "--out", out, "--until", "sr_data", wait=False), out, "teacher",
                    ready=lambda: teacher_rows(out) > 0)  # inside graph.run: some teacher answers stored

        again = run_data(path, "--out", out)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "skip  graphs: done, unchanged" in again.stdout
        assert "rerun teacher: it was interrupted" in again.stdout
        conn = sqlite3.connect(out / "run.sqlite")
        assert conn.execute("SELECT count(*) FROM teacher").fetchone()[0] == 12
        conn.close()
    finally:
        stub.stop()


def test_servers_run_only_around_the_stages_that_need_them(tmp_path: Path) -> None:
    """A server is up for a run of consecutive stages needing it, stopped while others run (training), and
    started again for a later stage; skipped stages start nothing."""
    import contextlib

    from experiments.manifest import Manifest
    from experiments.runner import Step, execute
    from experiments.stages import Stage

    events: list[str] = []

    def factory(key: str):  # type: ignore[no-untyped-def]
        @contextlib.contextmanager
        def serve():  # type: ignore[no-untyped-def]
            events.append(f"start {key}")
            yield
            events.append(f"stop {key}")
        return serve

    def step(name: str, servers: tuple[str, ...], action: str = "run") -> Step:
        return Step(Stage(name, ["this"], {}, [], servers=servers), name, action, "test")

    steps = [step("graphs", ("embedded",)), step("teacher", ("embedded", "serve:1")), step("data", ()),
             step("train", ()), step("eval_a", ("serve:2", "embedded")), step("eval_b", ("serve:3", "embedded")),
             step("eval_c", ("serve:4", "embedded"), action="skip"), step("results", ())]
    out = tmp_path / "exp"
    out.mkdir()
    execute(steps, Manifest(out, "t", tmp_path / "spec.yaml"), out,
            {key: factory(key) for key in ("embedded", "serve:1", "serve:2", "serve:3", "serve:4")}, log=lambda m: None)
    assert events == ["start embedded", "start serve:1", "stop embedded", "stop serve:1",  # not during data, train
                      "start serve:2", "start embedded", "stop serve:2", "start serve:3", "stop embedded", "stop serve:3"]
