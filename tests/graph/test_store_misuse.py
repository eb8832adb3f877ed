"""A store survives misuse: pre-generated queries, typo'd flags, unusable paths, a run where every id fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from storekit import RULES, accounted, cli, digest, one_line_error, read_only_dir, rows
from stub_server import StubServer

OTHER_QUERY = "A completely different question that no stored answer was written for?"


@pytest.fixture(scope="module")
def server() -> Iterator[StubServer]:
    stub = StubServer(rules=list(RULES), record=False).start()
    yield stub
    stub.stop()


@pytest.fixture
def fresh(server: StubServer) -> Iterator[StubServer]:
    """The module's stub with its rules restored after a test that scripts its own."""
    saved = list(server.rules)
    yield server
    server.rules[:] = saved


@pytest.fixture(scope="module")
def old_store(server: StubServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-id run that the typo tests try to resume with a bad flag."""
    db = tmp_path_factory.mktemp("old") / "old.sqlite"
    cli("graph.run", "--n", "2", "--db", str(db), "--base-url", server.url, check=True)
    return db


def test_graph_queries_never_replaces_what_a_run_stored(fresh: StubServer, tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    cli("graph.run", "--n", "4", "--db", str(db), "--base-url", fresh.url, check=True)
    before = rows(db, "SELECT * FROM queries ORDER BY id")
    fresh.rules.insert(0, ("Constraints:", OTHER_QUERY))
    same = cli("graph.queries", "--n", "4", "--db", str(db), "--base-url", fresh.url, check=True)
    assert "wrote 0 queries" in same.stderr
    other = cli("graph.queries", "--n", "4", "--seed", "9", "--db", str(db), "--base-url", fresh.url)
    one_line_error(other, "pass --seed 0")
    assert rows(db, "SELECT * FROM queries ORDER BY id") == before


def test_graph_queries_adds_only_the_shards_missing_ids(fresh: StubServer, tmp_path: Path) -> None:
    db = tmp_path / "shard.sqlite"
    cli("graph.run", "--n", "6", "--shard", "0/2", "--db", str(db), "--base-url", fresh.url, check=True)
    before = rows(db, "SELECT * FROM queries ORDER BY id")
    with_ids = [r[0] for r in before]
    assert with_ids == [0, 2, 4]
    fresh.rules.insert(0, ("Constraints:", OTHER_QUERY))
    cli("graph.queries", "--n", "10", "--db", str(db), "--base-url", fresh.url, check=True)
    assert rows(db, "SELECT * FROM queries ORDER BY id") == before, "other shards' ids or ids past n were added"
    one_line_error(cli("graph.queries", "--n", "6", "--seed", "9", "--db", str(db), "--base-url", fresh.url),
                   "pass --seed 0")


def test_run_refuses_queries_pregenerated_with_another_seed(fresh: StubServer, tmp_path: Path) -> None:
    db = tmp_path / "pre.sqlite"
    fresh.rules.insert(0, ("Constraints:", OTHER_QUERY))
    cli("graph.queries", "--n", "3", "--seed", "9", "--db", str(db), "--base-url", fresh.url, check=True)
    stored = digest(db)
    proc = cli("graph.run", "--n", "3", "--seed", "0", "--db", str(db), "--base-url", fresh.url)
    one_line_error(proc, "another --seed or --priors")
    assert digest(db) == stored and rows(db, "SELECT count(*) FROM runs") == [(0,)]
    again = cli("graph.queries", "--n", "5", "--seed", "0", "--db", str(db), "--base-url", fresh.url)
    one_line_error(again, "another --seed or --priors")
    cli("graph.run", "--n", "3", "--seed", "9", "--db", str(db), "--base-url", fresh.url, check=True)
    assert {r[0] for r in rows(db, "SELECT query FROM queries")} == {OTHER_QUERY}


@pytest.mark.parametrize(("flag", "needle"), [
    (["--model", "stub-modle"], "'stub-modle' is not served"),
    (["--prompts-dir", "no-such-dir"], "is not a directory"),
    (["--priors", "no-such-priors.yaml"], "priors file no-such-priors.yaml not found"),
    (["--prompts-dir", "{bad_prompts}"], "must have exactly <<question>>, <<response>>"),
    (["--config", "{tmp}"], "is a directory"),
])
def test_a_typo_leaves_no_run_and_the_fixed_command_works(server: StubServer, old_store: Path, tmp_path: Path,
                                                          flag: list[str], needle: str) -> None:
    bad_prompts = tmp_path / "prompts"
    bad_prompts.mkdir()
    (bad_prompts / "eval_safety.txt").write_text("Check <<question>> against <<answer>>.\n")
    flag = [f.format(bad_prompts=bad_prompts, tmp=tmp_path) for f in flag]
    new = tmp_path / "new.sqlite"
    one_line_error(cli("graph.run", "--n", "3", "--db", str(new), "--base-url", server.url, *flag), needle)
    assert not new.exists() and not Path(f"{new}.lock").exists()
    cli("graph.run", "--n", "3", "--db", str(new), "--base-url", server.url, check=True)
    accounted(new, 3)
    kept = digest(old_store)
    one_line_error(cli("graph.run", "--n", "3", "--db", str(old_store), "--base-url", server.url, "--force", *flag),
                   needle)
    assert digest(old_store) == kept


def test_n_zero_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "zero.sqlite"
    one_line_error(cli("graph.run", "--n", "0", "--db", str(db), "--base-url", "http://127.0.0.1:9/v1"),
                   "--n must be at least 1")
    assert not db.exists()


def test_a_run_where_every_id_failed_exits_non_zero(tmp_path: Path) -> None:
    stub = StubServer(default=(404, "no such route"), record=False).start()
    try:
        db = tmp_path / "failed.sqlite"
        proc = cli("graph.run", "--n", "3", "--db", str(db), "--base-url", stub.url)
        assert proc.returncode == 1, proc.stderr[-1500:]
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("error: every one of the 3 ids run failed (mostly query: http") and "--retry-failed" in last
        accounted(db, 3)
    finally:
        stub.stop()


def test_an_api_key_with_a_newline_is_refused_without_echoing_it(tmp_path: Path, server: StubServer) -> None:
    db = tmp_path / "key.sqlite"
    proc = cli("graph.run", "--n", "1", "--db", str(db), "--base-url", server.url, MUSER_API_KEY="sk-secret\nX-Evil: 1")
    one_line_error(proc, "endpoint.api_key")
    assert "sk-secret" not in proc.stderr and not db.exists()


def _corrupt(db: Path) -> None:
    """Keep the header page (so the file still opens as SQLite) and overwrite every later page."""
    data = bytearray(db.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) > 2 * page
    for i in range(page, len(data)):
        data[i] = (i * 131 + 7) % 256
    db.write_bytes(bytes(data))


def test_corrupt_pages_are_a_one_line_error_and_the_file_is_untouched(server: StubServer, tmp_path: Path) -> None:
    db = tmp_path / "corrupt.sqlite"
    cli("graph.run", "--n", "20", "--db", str(db), "--base-url", server.url, check=True)
    _corrupt(db)
    before = digest(db)
    cases = {
        "graph.run": ["graph.run", "--db", str(db), "--base-url", server.url],
        "graph.trace": ["graph.trace", "--db", str(db), "--id", "5"],
        "graph.merge": ["graph.merge", str(db), "-o", str(tmp_path / "merged.sqlite")],
        "graph.export": ["graph.export", "--db", str(db), "--what", "sr", "--out", str(tmp_path / "sr.jsonl")],
    }
    for name, args in cases.items():
        proc = cli(*args)
        assert proc.returncode == 2, (name, proc.returncode, proc.stderr[-1500:])
        one_line_error(proc, "corrupt")
        assert digest(db) == before, name
    assert not (tmp_path / "merged.sqlite").exists() and not (tmp_path / "sr.jsonl").exists()


def test_unusable_paths_are_one_line_errors(server: StubServer, tmp_path: Path) -> None:
    a_file = tmp_path / "plain.txt"
    a_file.write_text("not a directory\n")
    url = ["--base-url", server.url]
    one_line_error(cli("graph.run", "--n", "2", "--db", str(tmp_path), *url), "is a directory")
    one_line_error(cli("graph.run", "--n", "2", "--db", str(a_file / "run.sqlite"), *url), "plain.txt")
    one_line_error(cli("graph.trace", "--db", str(tmp_path)), "is a directory")
    with read_only_dir(tmp_path / "ro") as ro:
        one_line_error(cli("graph.run", "--n", "2", "--db", str(ro / "run.sqlite"), *url), "writable directory")
        assert list(ro.iterdir()) == []
        db = tmp_path / "ok.sqlite"
        cli("graph.run", "--n", "2", "--db", str(db), *url, check=True)
        one_line_error(cli("graph.export", "--db", str(db), "--what", "sr", "--out", str(ro / "sr.jsonl")),
                       "writable directory")
        assert list(ro.iterdir()) == []
    one_line_error(cli("graph.export", "--db", str(db), "--what", "sr", "--out", str(a_file / "sr.jsonl")),
                   "writable directory")
    assert a_file.read_text() == "not a directory\n"


def test_shards_of_a_pregenerated_store_merge(fresh: StubServer, tmp_path: Path) -> None:
    shards = [tmp_path / f"shard{i}.sqlite" for i in range(2)]
    for i, db in enumerate(shards):
        cli("graph.queries", "--n", "6", "--db", str(db), "--base-url", fresh.url, check=True)  # all six ids
        cli("graph.run", "--n", "6", "--shard", f"{i}/2", "--db", str(db), "--base-url", fresh.url, check=True)
    merged = tmp_path / "merged.sqlite"
    cli("graph.merge", *map(str, shards), "-o", str(merged), check=True)
    assert [r[0] for r in rows(merged, "SELECT id FROM queries ORDER BY id")] == list(range(6))
    accounted(merged, 6)
