"""The experiment runner's training stages on a minute model (real TRL steps) over a store made against the
stub: KD from the base, SR from the KD model, SR from the base; run again, all skipped; a kill inside a
training stage continues there without redoing the finished stages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from experimentkit import kill_inside, runner, stages
from stub_server import StubServer

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


def test_three_trainings_from_one_spec_and_a_kill_inside_one(tiny_model_dir: Path, tmp_path: Path) -> None:
    stub = StubServer(rules=list(RULES), record=False).start()
    try:
        out, path = tmp_path / "exp", spec(tmp_path, stub.url, tiny_model_dir, steps=30)
        kill_inside(runner(path, "--out", out, "--until", "train_sr", wait=False), out, "train_kd")

        again = runner(path, "--out", out, "--until", "train_sr")  # the same command continues inside train_kd
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

        assert runner(path, "--out", out, "--until", "train_sr").stdout.count("skip ") == 7

        fewer = spec(tmp_path, stub.url, tiny_model_dir, steps=2)  # a changed stage: redone, the old model set aside
        proc = runner(fewer, "--out", out, "--until", "train_sr")
        assert proc.returncode == 0 and "redo  train_kd: changed: train.kd.max_steps 30 → 2" in proc.stdout, proc.stdout
        assert "redo  train_kd_sr: changed: train.sr.max_steps 30 → 2" in proc.stdout
        assert list((out / "superseded").glob("train_kd-*/kd/config.json"))
    finally:
        stub.stop()
