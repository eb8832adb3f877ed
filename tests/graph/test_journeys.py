"""The journeys between commands: a small model on your own server, planning before spending, re-running
the demo, and the rough edges met on the way (URL flags, a missing store, an eval store with no run)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from storekit import RULES, cli, count, digest, one_line_error, rows
from stub_server import StubServer

from state.grammars import QUESTION, RATIONALES
from state.profiles import GRAMMARS

ROOT = Path(__file__).parents[2]


@pytest.fixture
def scripted(stub: StubServer) -> StubServer:
    stub.rules = list(RULES)
    return stub


def test_profile_small_against_a_plain_server_sends_grammars_penalties_and_small_budgets(scripted: StubServer, tmp_path: Path) -> None:
    scripted.max_model_len = 2048
    db = tmp_path / "small.sqlite"
    proc = cli("graph.run", "--n", "2", "--db", str(db), "--base-url", scripted.url, "--profile", "small", check=True)
    assert "--profile small" not in proc.stderr  # no hint: the profile fits
    assert all(r["structured_outputs"]["regex"] in GRAMMARS.values() and r["repetition_penalty"] == 1.1
               and r["frequency_penalty"] == 0.3 and r["max_tokens"] <= 512 for r in scripted.requests)
    query_calls = [r for r in scripted.requests if r["structured_outputs"]["regex"] == QUESTION]
    assert len(query_calls) == 2 and all(r["max_tokens"] <= 384 for r in query_calls)
    evaluator = [r for r in scripted.requests if r["messages"][-1] == {"role": "assistant", "content": "We should"}]
    assert len(evaluator) == 6 and all(r["structured_outputs"]["regex"] == RATIONALES for r in evaluator)
    assert all(r["max_tokens"] <= 320 and "Write one to three short lines" in json.dumps(r) for r in evaluator)
    config = json.loads(rows(db, "SELECT config FROM runs")[0][0])
    assert config["profile"] == "small" and config["prompt_set"] == "small" and config["sampling"]["max_tokens"] == 512

    yaml_cfg = tmp_path / "small.yaml"
    yaml_cfg.write_text("profile: small\n")
    cli("graph.run", "--n", "1", "--db", str(tmp_path / "yaml.sqlite"), "--base-url", scripted.url,
        "--config", str(yaml_cfg), check=True)
    assert json.loads(rows(tmp_path / "yaml.sqlite", "SELECT config FROM runs")[0][0])["profile"] == "small"


def test_run_says_which_profile_fits_a_small_context(scripted: StubServer, tmp_path: Path) -> None:
    scripted.max_model_len = 2048
    proc = cli("graph.run", "--n", "1", "--db", str(tmp_path / "paper.sqlite"), "--base-url", scripted.url)
    assert "serves a 2048-token context, far below max_tokens 40960" in proc.stderr
    assert "--profile small" in proc.stderr


def test_dry_run_needs_no_server_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "runs" / "plan.sqlite"
    proc = subprocess.run(["python", "-m", "graph.run", "--n", "1000000", "--db", str(db), "--dry-run",
                           "--base-url", "http://127.0.0.1:9/v1", "--teacher-base-url", "http://127.0.0.1:9/v1",
                           "--price-in", "0.2", "--price-out", "0.6"],
                          capture_output=True, text=True, cwd=tmp_path, env={**_env(), "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.iterdir()) == []  # no store, no runs/ directory, no lock
    out = proc.stdout
    assert "ids: 1000000 to run (0, 1, 2, 3, 4, …, 999999)" in out
    lines = {ln.split()[0]: ln.split() for ln in out.splitlines() if ln.split() and ln.split()[0] in
             ("query", "generate", "evaluate", "refine", "teacher", "total")}
    assert lines["evaluate"][1] == "3,000,000" and lines["teacher"][1] == "1,000,000"
    assert lines["generate"][3] == f"{40960 * 1_000_000:,}"  # the ceiling: max_tokens per call
    assert "cost at $0.2 in / $0.6 out per million tokens: ceiling $" in out


def test_dry_run_on_a_store_counts_what_is_left_and_changes_nothing(scripted: StubServer, tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    cli("graph.run", "--n", "4", "--db", str(db), "--base-url", scripted.url, check=True)
    before = digest(db)
    proc = cli("graph.run", "--db", str(db), "--n", "10", "--dry-run", check=True)
    assert "ids: 6 to run (4, 5, 6, 7, 8, …, 9), 4 of the 10 already stored" in proc.stdout
    assert digest(db) == before
    one_line_error(cli("graph.run", "--n", "5", "--dry-run", "--price-in", "1"), "--price-out")


def test_query_generation_usage_is_stored_and_counted(scripted: StubServer, tmp_path: Path) -> None:
    from graph.report.usage import cost

    db = tmp_path / "run.sqlite"
    cli("graph.run", "--n", "3", "--db", str(db), "--base-url", scripted.url, check=True)
    for (usage,) in rows(db, "SELECT usage FROM results"):
        calls = json.loads(usage)["calls"]
        assert calls[0]["node"] == "query" and calls[0]["prompt_tokens"] > 0
    conn = sqlite3.connect(db)
    try:
        nodes = {row["node"]: row for row in cost(conn, 3, None, None)["nodes"]}
    finally:
        conn.close()
    assert nodes["query"]["calls"] == 3 and nodes["query"]["completion_tokens"] > 0


def test_a_second_demo_with_another_n(scripted: StubServer, tmp_path: Path) -> None:
    """A run grows when only --n grows; any other change is refused before a server is started."""
    db = tmp_path / "demo.sqlite"
    cli("graph.run", "--n", "4", "--db", str(db), "--base-url", scripted.url, check=True)
    stored = rows(db, "SELECT * FROM results ORDER BY id")
    cli("graph.run", "--n", "8", "--db", str(db), "--base-url", scripted.url, check=True)
    assert count(db, "results") == 8 and rows(db, "SELECT n FROM runs") == [(8,)]
    assert rows(db, "SELECT * FROM results WHERE id < 4 ORDER BY id") == stored
    conn = sqlite3.connect(db)
    with conn:  # as if the embedded model had served it: a resume without --base-url would start one
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('embedded', '1')")
    conn.close()
    proc = cli("graph.run", "--n", "2", "--db", str(db), MUSER_EMBEDDED_PORT="9")
    one_line_error(proc, "n: stored 8, now 2")
    assert "starting the embedded model" not in proc.stderr


def test_make_demo_uses_a_store_per_n_and_setup_is_stamped(tmp_path: Path) -> None:
    for name in ("Makefile", "pyproject.toml"):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    make = ["make", "-C", str(tmp_path), "PYTHON=python"]
    assert "--db runs/demo-20.sqlite" in subprocess.run([*make, "-n", "demo", "DEMO_N=20"], capture_output=True,
                                                         text=True, check=True).stdout
    assert subprocess.run([*make, "-q", "setup"]).returncode == 1  # fresh: must install
    subprocess.run([*make, "setup", "PIP=true"], capture_output=True, check=True)  # installs (a no-op pip here)
    assert subprocess.run([*make, "-q", "setup"]).returncode == 0  # nothing changed: nothing to do
    (tmp_path / "pyproject.toml").write_text((tmp_path / "pyproject.toml").read_text() + "\n")
    assert subprocess.run([*make, "-q", "setup"]).returncode == 1  # pyproject changed: install again


def test_url_flags_take_repeats_and_lists(scripted: StubServer, tmp_path: Path) -> None:
    other = StubServer(rules=list(RULES)).start()
    try:
        db = tmp_path / "two.sqlite"
        cli("graph.run", "--n", "2", "--db", str(db), "--base-url", f"{scripted.url},{other.url}", check=True)
        assert json.loads(rows(db, "SELECT config FROM runs")[0][0])["endpoint"]["base_urls"] == [scripted.url, other.url]
    finally:
        other.stop()
    from eval.options import build_parser
    from graph.url_flags import split_urls

    assert split_urls(["a,b", "c d", " e "]) == ["a", "b", "c", "d", "e"]
    args = build_parser().parse_args(["--data", "x.jsonl", "--db", "e.sqlite", "--base-url", "http://a/v1", "--base-url", "http://b/v1,http://c/v1",
                                      "--grader-base-url", "http://g/v1", "http://h/v1"])
    assert args.base_url == ["http://a/v1", "http://b/v1", "http://c/v1"]
    assert args.grader_base_url == ["http://g/v1", "http://h/v1"]


def test_trace_of_a_missing_store_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite"
    proc = cli("graph.trace", "--db", str(missing))
    one_line_error(proc, "check the --db path")
    assert not missing.exists()


def test_compare_list_says_when_no_run_finished(tmp_path: Path) -> None:
    from eval.batch.store import EvalStore

    db = tmp_path / "eval.sqlite"
    EvalStore(db).close()
    proc = cli("eval.compare", str(db), "--list", check=True)
    assert proc.stdout.strip() == f"{db}: no finished run yet (run or resume python -m eval.healthbench --db {db} until it exits 0)"


def _env() -> dict[str, str]:
    from storekit import env

    return env()
