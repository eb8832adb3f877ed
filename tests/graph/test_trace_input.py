"""graph.trace input and output limits: --query-file, undecodable --query bytes, a 30 MB stored answer."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from storekit import RULES, cli, env, one_line_error
from stub_server import StubServer

HUGE_WORDS = 5_000_000  # "fever " × 5M = 30 MB


def test_query_file_and_bad_query_bytes(tmp_path: Path) -> None:
    stub = StubServer(rules=list(RULES), record=True).start()
    try:
        long_query = "My father is 81, on warfarin, and fell this morning. " * 300  # 16 kB, too long for a shell line
        path = tmp_path / "q.txt"
        path.write_text(long_query, encoding="utf-8")
        proc = cli("graph.trace", "--query-file", str(path), "--base-url", stub.url, "--json", check=True)
        assert json.loads(proc.stdout)["query"] == long_query
        assert stub.requests[0]["messages"][-1]["content"].count("warfarin") == 300
        (tmp_path / "latin1.txt").write_bytes("fièvre".encode("latin-1"))
        one_line_error(cli("graph.trace", "--query-file", str(tmp_path / "latin1.txt"), "--base-url", stub.url),
                       "is not UTF-8 text")
        one_line_error(cli("graph.trace", "--query-file", str(path), "--query", "x", "--base-url", stub.url),
                       "either --query or --query-file")
        raw = subprocess.run([sys.executable, "-m", "graph.trace", "--query", b"fever \xff\xfe 39", "--base-url",
                              stub.url], capture_output=True, text=True, timeout=60, env=env())
        one_line_error(raw, "--query is not valid UTF-8")
        assert len(stub.requests) == 5, "the bad invocations must not reach the server"
    finally:
        stub.stop()


def test_a_huge_stored_answer_is_capped_on_screen_and_whole_in_json(tmp_path: Path) -> None:
    stub = StubServer(rules=list(RULES), record=False).start()
    try:
        db = tmp_path / "huge.sqlite"
        cli("graph.run", "--n", "1", "--db", str(db), "--base-url", stub.url, check=True)
    finally:
        stub.stop()
    huge = "fever " * HUGE_WORDS
    conn = sqlite3.connect(db)
    with conn:  # as if the model had rambled for 30 MB
        conn.execute("UPDATE results SET answer = ?, refined_answer = ? WHERE id = 0", (huge, huge + "fine"))
    conn.close()
    t0 = time.monotonic()
    shown = cli("graph.trace", "--db", str(db), "--id", "0", timeout=120, check=True, COLUMNS="200")
    took = time.monotonic() - t0
    assert took < 60, f"rendering took {took:.0f}s"
    assert f"{len(huge) - 20_000:,} more characters not shown" in shown.stdout
    assert len(shown.stdout) < 1_000_000
    whole = cli("graph.trace", "--db", str(db), "--id", "0", "--json", timeout=120, check=True)
    assert json.loads(whole.stdout)["generation"]["answer"] == huge
