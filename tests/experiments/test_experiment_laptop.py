"""The laptop spec end to end at its smallest size, on real engines: the embedded model (vLLM on this CPU)
makes the data, real TRL steps train the three models, vLLM serves each row's model and the embedded model
grades it on HealthBench; results.md and results.json hold the four rows, every server is stopped, and a second run skips
every stage. Also: a model the spec serves is started for its stages and stopped."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ports import free_port, free_ports, listening

from experiments.results import COLUMNS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
ROOT = Path(__file__).parents[2]
LAPTOP = ROOT / "experiments" / "specs" / "laptop.yaml"
STAGES = ["graphs", "teacher", "kd_data", "sr_data", "base", "train_kd", "train_kd_sr", "train_sr", "eval_base",
          "eval_sr", "eval_kd", "eval_kd_sr", "compare", "results"]


def smallest(tmp_path: Path, rows_port: int) -> Path:
    """The laptop spec at its smallest: 4 queries, one training step per stage, 2 HealthBench examples answered
    in up to 128 tokens."""
    data = yaml.safe_load(LAPTOP.read_text(encoding="utf-8"))
    data["run"].update(n=4, concurrency=4)
    for stage in ("kd", "sr"):
        data["train"][stage]["max_steps"] = 1
    data["eval"].update(n=2, port=rows_port, max_tokens=128)  # answering is most of an evaluation's time
    path = tmp_path / "smallest.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_laptop_spec_runs_the_method_and_prints_the_four_rows(tmp_path: Path) -> None:
    port, rows_port, out = free_port(), free_ports(4), tmp_path / "exp"
    env = {**os.environ, "MUSER_EMBEDDED_PORT": str(port)}
    cmd = [sys.executable, "-m", "experiments.run", str(smallest(tmp_path, rows_port)), "--out", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    assert not any(listening(p) for p in (port, *range(rows_port, rows_port + 4))), "every server is stopped"
    stages = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["stages"]
    assert [name for name, s in stages.items() if s["status"] == "done"] == STAGES
    for stage in ("kd", "sr"):
        card = json.loads((out / "data" / stage / "data_card.json").read_text(encoding="utf-8"))
        assert card["counts"]["written"] >= 1, (stage, card["dropped"])
        assert card["filters"]["prompt_set"] == "small"
    table = (out / "results.md").read_text(encoding="utf-8")
    assert table.startswith("Graded by muser prompt") and table in proc.stdout
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [row["row"] for row in results["rows"]] == ["base", "+SR", "+KD", "+KD+SR"]
    for row in results["rows"]:  # every column with its n; the overall score stands on every example
        assert set(row["full"]) == set(COLUMNS) and all(set(c) == {"score", "n"} for c in row["full"].values())
        assert row["full"]["overall_score"]["n"] == 2, row
        assert row["row"] == "base" or row["vs"]["paired"]["overall_score"]["n"] == 2
        assert re.search(rf"^\| {re.escape(row['row'])} \| [0-9.]+ \(2\) \|", table, flags=re.M), table
    assert proc.stdout.rstrip().endswith(f"every stage done in {out}; manifest {out / 'manifest.json'}")
    assert "| +KD+SR |" in (out / "compare.md").read_text(encoding="utf-8")

    start = time.monotonic()
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.count("skip ") == len(STAGES), again.stdout + again.stderr
    assert time.monotonic() - start < 60 and "starting" not in again.stdout


def test_a_model_the_spec_serves_is_started_for_its_stages_and_stopped(tmp_path: Path) -> None:
    """`serve:` a local model directory (here the embedded SmolLM2's, converted once) with vLLM on a port of
    its own: the runner starts it before the first stage that calls it and stops it at the end."""
    from graph.serve.vllm import embedded_model_dir

    port, out = free_port(), tmp_path / "exp"
    spec = tmp_path / "served.yaml"
    spec.write_text(json.dumps({
        "version": 1, "name": "served", "rows": ["base", "+SR"],
        "models": {"backbone": {"serve": str(embedded_model_dir()), "port": port}},
        "run": {"n": 3, "profile": "small", "concurrency": 3},
        "train": {"sr": {"recipe": "smollm2-135m/sr.yaml"}}}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "MUSER_EMBEDDED_PORT"}
    cmd = [sys.executable, "-m", "experiments.run", str(spec), "--out", str(out), "--until", "sr_data"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"on http://127.0.0.1:{port}/v1" in proc.stdout and "stopped" in proc.stdout
    assert not listening(port)
    stages = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["stages"]
    assert list(stages) == ["graphs", "sr_data"] and f"--base-url http://127.0.0.1:{port}/v1" in stages["graphs"]["command"]
    assert all(s["status"] == "done" for s in stages.values())
