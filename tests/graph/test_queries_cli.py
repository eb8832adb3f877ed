"""python -m graph.queries as a user runs it: dry run, summary, generation against the stub, bad input."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from stub_server import StubServer

from graph.queries.cli import FIELDS
from state.attributes import sample_attributes

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSER_")}
    return subprocess.run(
        [sys.executable, "-m", "graph.queries", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_dry_run_prints_attribute_lines_in_id_order() -> None:
    full = cli("--n", "6", "--seed", "4", "--dry-run")
    assert full.returncode == 0 and full.stderr == ""
    rows = lines(full.stdout)
    assert [r["id"] for r in rows] == list(range(6)) and all(tuple(r) == FIELDS for r in rows)
    assert rows[5] == {k: v for k, v in sample_attributes(4, 5).model_dump().items() if k in FIELDS}
    tail = cli("--n", "2", "--seed", "4", "--start", "4", "--dry-run")
    assert lines(tail.stdout) == rows[4:]


def test_summary_table_lists_priors_and_gap() -> None:
    proc = cli("--n", "3000", "--seed", "1", "--dry-run", "--summary")
    assert proc.returncode == 0, proc.stderr
    for text in (
        "prior",
        "observed",
        "caregiver",
        "United States",
        "Patient reply generation",
        "largest gap",
    ):
        assert text in proc.stdout


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "override", "needle"),
    [
        (["--n", "-3", "--dry-run"], None, "--n and --start must be 0 or more"),
        (["--n", "ten", "--dry-run"], None, "invalid int value"),
        (["--n", "2", "--dry-run"], "intents: {lay: {roles: [patient, nurse]}}\n", "unknown role 'nurse'"),
        (["--n", "2", "--dry-run"], "setting: {urban: 0.7, rural: 0.7}\n", "probabilities sum to 1.4, not 1"),
        (["--n", "1", "--base-url", "http://127.0.0.1:{port}/v1"], None, "cannot reach the server"),
    ],
)
def test_bad_input_is_one_stderr_line_and_exit_2(
    tmp_path: Path, args: list[str], override: str | None, needle: str
) -> None:
    args = [a.format(port=_closed_port()) for a in args]
    if override is not None:
        path = tmp_path / "priors.yaml"
        path.write_text(override, encoding="utf-8")
        args += ["--priors", str(path)]
    proc = cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert (
        len(proc.stderr.strip().splitlines()) == 1
        and needle in proc.stderr
        and "Traceback" not in proc.stderr
    )
    assert proc.stdout == ""


def test_generation_writes_queries_in_id_order_and_reports_failures(stub: StubServer, tmp_path: Path) -> None:
    attrs = [sample_attributes(9, i) for i in range(5)]

    def reply(body: dict[str, Any]) -> str:
        prompt = body["messages"][0]["content"]
        a = next(a for a in attrs if a.disease in prompt and a.intent_description in prompt)
        return (
            "1. Is this serious?\n2. What should I do?"
            if a.id == 2
            else f'Query: "What should I know about {a.disease}?"'
        )

    stub.default = reply
    out = tmp_path / "queries.jsonl"
    proc = cli("--n", "5", "--seed", "9", "--base-url", stub.url, "--concurrency", "3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = lines(out.read_text(encoding="utf-8"))
    assert [r["id"] for r in rows] == [0, 1, 3, 4]
    for row in rows:
        assert tuple(row)[:-1] == FIELDS and row["query"] == f"What should I know about {row['disease']}?"
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning:")]
    assert warnings == ["warning: id 2 failed (list): the generator returned a list of queries, not one"]
    assert "wrote 4 queries, 1 failed" in proc.stderr
    assert len(stub.requests) == 5 and all(r["model"] == "stub-model" for r in stub.requests)
