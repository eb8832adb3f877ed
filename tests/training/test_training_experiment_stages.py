"""The experiment runner's training stages on a minute model (real TRL steps) over a store made against the
stub: KD from the base, SR from the KD model, SR from the base; run again, all skipped; a kill inside a
training stage continues there without redoing the finished stages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from procfs import alive, children
from stub_server import StubServer

ROOT = Path(__file__).parents[2]
RULES = [("Context to check", "We should ask the user about their age."), ("pitched its answer", "N/A"),
         ("Perspectives to check", "N/A")]
TRAINED = ["train_kd", "train_kd_sr", "train_sr"]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # four trainings of a minute model: about 1.5 min


def spec(tmp_path: Path, url: str, base: Path, steps: int) -> Path:
    stage = {"max_steps": steps}
    data = {"version": 1, "name": "trained", "models": {"backbone": {"url": url}, "teacher": {"url": url}},
            "run": {"n": 6, "profile": "paper"},
            "train": {"base": str(base), "kd": {"recipe": "smollm2-135m/kd.yaml", **stage},
                      "sr": {"recipe": "smollm2-135m/sr.yaml", **stage}}}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def runner(path: Path, out: Path, wait: bool = True) -> Any:
    cmd = [sys.executable, "-m", "experiments.run", str(path), "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSER_")}
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def stages(out: Path) -> dict[str, dict[str, Any]]:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))["stages"]  # type: ignore[no-any-return]


def test_three_trainings_from_one_spec_and_a_kill_inside_one(tiny_model_dir: Path, tmp_path: Path) -> None:
    stub = StubServer(rules=list(RULES), record=False).start()
    try:
        out, path = tmp_path / "exp", spec(tmp_path, stub.url, tiny_model_dir, steps=30)
        proc = runner(path, out, wait=False)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # wait until train_kd's training.sft is under way
            if (out / "manifest.json").exists() and stages(out).get("train_kd", {}).get("status") == "running" \
                    and children(proc.pid):
                break
            time.sleep(0.1)
        kids = children(proc.pid)
        assert kids, "train_kd never started"
        time.sleep(1.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 60
        while any(alive(k) for k in kids) and time.monotonic() < deadline:  # training dies with the runner
            time.sleep(0.05)
        assert not any(alive(k) for k in kids)
        assert stages(out)["train_kd"]["status"] == "running"

        again = runner(path, out)  # the same command continues inside train_kd
        assert again.returncode == 0, again.stdout + again.stderr
        for name in ("graphs", "teacher", "kd_data", "sr_data"):
            assert f"skip  {name}: done, unchanged" in again.stdout
        assert "rerun train_kd: it was interrupted" in again.stdout
        done = stages(out)
        assert [n for n in TRAINED if done[n]["status"] == "done"] == TRAINED
        for name, model in (("train_kd", "kd"), ("train_kd_sr", "kd-sr"), ("train_sr", "sr")):
            assert (out / "models" / model / "config.json").is_file(), name
        assert f"--model_name_or_path {out / 'models' / 'kd'}" in done["train_kd_sr"]["command"]
        assert f"--model_name_or_path {tiny_model_dir}" in done["train_sr"]["command"]

        assert runner(path, out).stdout.count("skip ") == 7

        fewer = spec(tmp_path, stub.url, tiny_model_dir, steps=2)  # a changed stage: redone, the old model set aside
        proc = runner(fewer, out)
        assert proc.returncode == 0 and "redo  train_kd: changed: train.kd.max_steps 30 → 2" in proc.stdout, proc.stdout
        assert "redo  train_kd_sr: changed: train.sr.max_steps 30 → 2" in proc.stdout
        assert list((out / "superseded").glob("train_kd-*/kd/config.json"))
    finally:
        stub.stop()
