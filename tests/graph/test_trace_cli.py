"""`python -m graph.trace` as a user runs it: a subprocess against a stub server on 127.0.0.1.

Every invocation is started at once by one module fixture (each pays the interpreter start-up), then
each test checks its own result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from stub_server import StubServer

ROOT = Path(__file__).resolve().parents[2]
QUERY = "My 3 year old has had a fever of 39.5 for two days, what should I do?"
FAILING_QUERY = "SAFETY-FAILS: my knee hurts when I run, what should I do?"
MARKUP = "Take [bold]two[/bold] tablets [/] now, \x1b[31mred alert\x1b[0m [link=http://x]here[/link]."
R0 = MARKUP + " " + ("Keep the child drinking fluids in small sips. Watch for warning signs such as unusual "
                   "sleepiness, fast breathing or a rash that does not fade. Dress her lightly and let her rest. "
                   "Paracetamol at the dose for her weight can ease the discomfort and help her sleep.")
REFINED = "Refined [italic]answer[/]: " + R0 + " See a doctor today if the fever persists."


def safety_reply(body: dict[str, Any]) -> Any:
    text = "\n".join(m["content"] for m in body["messages"])
    return (400, "scripted safety failure") if "SAFETY-FAILS" in text else "N/A"


RULES: list[tuple[str, Any]] = [
    (
        "Context to check, one perspective at a time",
        "We should ask about [red]allergies[/] and \x1b[1mweight.",
    ),
    ("pitched its answer to them", "N/A"),
    ("Perspectives to check", safety_reply),
    ("## Your reflection", REFINED),
]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSER_")}
    env["COLUMNS"] = "400"  # no wrapping in the middle of the strings checked below
    return env


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, subprocess.CompletedProcess[str]]]:
    stub = StubServer(
        rules=RULES, default={"content": R0, "reasoning_content": "The child is three [/]. \u202eevil\u202c \u2067x\u2069"}
    ).start()
    bad_yaml = tmp_path_factory.mktemp("cfg") / "bad.yaml"
    bad_yaml.write_text("refiner: contgen\nfacets: [decision,\n", encoding="utf-8")
    url = ["--base-url", stub.url]
    cases = {
        "panels": ["--query", QUERY, *url],
        "json": ["--query", QUERY, *url, "--json"],
        "mermaid": ["--mermaid", "--facets", "decision,safety"],
        "refiner": ["--query", QUERY, *url, "--refiner", "foo"],
        "facets": ["--query", QUERY, *url, "--facets", "bogus"],
        "yaml": ["--query", QUERY, *url, "--config", str(bad_yaml)],
        "unreachable": ["--query", QUERY, "--base-url", "http://127.0.0.1:9/v1"],
        "model": ["--query", QUERY, *url, "--model", "no-such-model"],
        "node_error": ["--query", FAILING_QUERY, *url],
    }
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "graph.trace", *args],
            cwd=ROOT,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        for name, args in cases.items()
    }
    results = {}
    try:
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=180)
            results[name] = subprocess.CompletedProcess(cases[name], proc.returncode, out, err)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        stub.stop()
    yield results


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


# -- normal runs -------------------------------------------------------------------------------------


def test_panels_for_every_node(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    out = ok(runs["panels"])
    for title in (
        "query",
        "generate",
        "eval_decision",
        "eval_communication",
        "eval_safety",
        "merge: refined reasoning t'",
        "refine_directref: refined answer r'",
        "filter",
        "r0 → r' (word diff)",
        "LLM calls",
    ):
        assert title in out, title
    assert QUERY in out
    assert "reasoning t0" in out and "answer r0" in out
    assert "N/A: nothing to add" in out  # communication and safety
    assert "Also, we should ask about [red]allergies[/] and \\x1b[1mweight." in out  # merged t'
    assert "kept (" in out


def test_model_markup_and_ansi_print_literally(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    out = ok(runs["panels"])
    assert "\x1b" not in out  # no escape byte reached the terminal
    assert (
        "Take [bold]two[/bold] tablets [/] now, \\x1b[31mred alert\\x1b[0m [link=http://x]here[/link]." in out
    )
    assert "The child is three [/]. \\u202eevil\\u202c \\u2067x\\u2069" in out  # bidi controls shown escaped
    assert not any(ch in out for ch in "\u202e\u202c\u2067\u2069")
    assert "We should ask about [red]allergies[/] and \\x1b[1mweight." in out
    assert "Refined [italic]answer[/]:" in out


def test_json_trace(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    data = json.loads(ok(runs["json"]))
    assert {"generation", "verdicts", "refinement", "verdict", "calls", "config", "model"} <= set(data)
    assert data["model"] == "stub-model"
    assert data["generation"]["answer"] == R0  # raw text, escaped only by JSON
    assert sorted(v["facet"] for v in data["verdicts"]) == ["communication", "decision", "safety"]
    assert data["refinement"]["method"] == "directref" and data["refinement"]["answer"] == REFINED
    assert data["verdict"]["kept"] is True
    assert sorted(c["node"] for c in data["calls"]) == sorted(
        ["generate", "eval_decision", "eval_communication", "eval_safety", "refine_directref"]
    )
    assert data["config"]["refiner"] == "directref"


def test_mermaid_follows_the_facets(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    out = ok(runs["mermaid"])
    assert "graph TD" in out
    for node in ("generate", "eval_decision", "eval_safety", "merge", "refine_directref", "filter"):
        assert node in out
    assert "generate --> eval_decision" in out and "eval_safety --> merge" in out
    assert "eval_communication" not in out


# -- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("refiner", ["refiner", "foo", "directref"]),
        ("facets", ["facets", "bogus"]),
        ("yaml", ["bad.yaml", "not valid YAML"]),
        ("unreachable", ["cannot reach", "http://127.0.0.1:9/v1", "--base-url"]),
        ("model", ["no-such-model", "stub-model", "--model"]),
        ("node_error", ["eval_safety", "400", "scripted safety failure"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    runs: dict[str, subprocess.CompletedProcess[str]], case: str, needles: list[str]
) -> None:
    result = runs[case]
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_a_failing_node_is_not_turned_into_an_answer(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    out = runs["node_error"].stdout
    assert "refine_directref" not in out and "kept (" not in out and "dropped" not in out
