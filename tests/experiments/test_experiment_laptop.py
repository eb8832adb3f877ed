"""The laptop spec's data stages (`--until sr_data`) on the real embedded model (vLLM on this CPU): a store, teacher answers and
non-empty KD and SR datasets, the server stopped afterwards, and a second run that skips every stage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ports import free_port, listening

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
ROOT = Path(__file__).parents[2]


def test_the_laptop_spec_writes_a_store_and_both_datasets(tmp_path: Path) -> None:
    port, out = free_port(), tmp_path / "exp"
    env = {**os.environ, "MUSER_EMBEDDED_PORT": str(port)}
    cmd = [sys.executable, "-m", "experiments.run", "experiments/specs/laptop.yaml", "--out", str(out), "--until", "sr_data"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not listening(port), "the runner stops the embedded server it started"
    stages = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["stages"]
    assert [name for name, s in stages.items() if s["status"] == "done"] == ["graphs", "teacher", "kd_data", "sr_data"]
    for stage in ("kd", "sr"):
        card = json.loads((out / "data" / stage / "data_card.json").read_text(encoding="utf-8"))
        assert card["counts"]["written"] >= 1, (stage, card["dropped"])
        assert card["filters"]["prompt_set"] == "small"

    start = time.monotonic()
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.count("skip ") == 4, again.stdout + again.stderr
    assert time.monotonic() - start < 30 and "starting the embedded model" not in again.stdout


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
