"""The SFT entry point: recipe parsing, preflight errors, and a real run + resume on a minute model."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import training
from state.errors import run_cli
from training.data import build_dataset
from training.sft import main

RECIPE = str(Path(training.__file__).parent / "recipes" / "smollm2-135m" / "kd.yaml")
Make = Callable[..., Path]


def cli_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run `training.sft` in-process and return its one-line error (asserting exit status 2)."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.fixture
def kd_data(make_store: Make, tmp_path: Path) -> Path:
    build_dataset(make_store(), "kd", tmp_path / "kd", 0.25)
    return tmp_path / "kd"


def small_run(model: Path, data: Path, out: Path, steps: int) -> list[str]:
    return [
        "--config", RECIPE, "--model_name_or_path", str(model), "--dataset_dir", str(data),
        "--output_dir", str(out), "--max_steps", str(steps), "--per_device_train_batch_size", "2",
        "--gradient_accumulation_steps", "1", "--effective_batch_size", "2", "--max_length", "512",
        "--save_strategy", "steps", "--save_steps", "1", "--eval_strategy", "no", "--learning_rate", "1e-3",
    ]  # fmt: skip


def test_unknown_recipe_key_is_one_line_without_traceback(tmp_path: Path) -> None:
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(Path(RECIPE).read_text() + "learning_rat: 1.0e-5\nwarmup_ratio: 0.1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "training.sft", "--config", str(recipe)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "Traceback" not in proc.stderr
    assert "unknown key(s): learning_rat, warmup_ratio" in lines[-1]


def test_missing_inputs_fail_before_training(
    capsys: pytest.CaptureFixture[str], kd_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "no recipe given" in cli_error(capsys, [])
    assert "recipe not found" in cli_error(capsys, ["--config", str(tmp_path / "nope.yaml")])
    base = ["--config", RECIPE, "--output_dir", str(tmp_path / "out")]
    message = cli_error(capsys, [*base, "--dataset_dir", str(tmp_path / "none")])
    assert "has no records in train.jsonl" in message and "training.data" in message
    message = cli_error(
        capsys, [*base, "--dataset_dir", str(kd_data), "--model_name_or_path", "./no/such/model"]
    )
    assert "model directory ./no/such/model does not exist" in message
    monkeypatch.setenv("MUSER_CACHE", str(tmp_path / "empty-cache"))
    message = cli_error(capsys, [*base, "--dataset_dir", str(kd_data)])
    assert "empty-cache/smollm2-135m-instruct does not exist" in message and "prepare_base" in message
    message = cli_error(capsys, [*base, "--dataset_dir", str(kd_data), "--gradient_accumulation_steps", "2"])
    assert "effective batch is 8" in message and "asks for 32" in message
    assert not (tmp_path / "out" / "train_summary.json").exists()


def test_run_saves_a_loadable_model_and_resumes(
    tiny_model_dir: Path, kd_data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "out"
    assert main(small_run(tiny_model_dir, kd_data, out, 2)) == 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["global_step"] == 2 and summary["steps_logged"] == 2
    settings = json.loads((out / "muser_sft_config.json").read_text())
    assert settings["effective_batch_size"] == 2 and settings["lr_scheduler_type"] == "cosine"
    assert (out / "checkpoint-2").is_dir()

    caplog.clear()
    caplog.set_level(logging.INFO, logger="training.sft")
    assert main(small_run(tiny_model_dir, kd_data, out, 3)) == 0
    assert any("resuming from" in r.getMessage() and "checkpoint-2" in r.getMessage() for r in caplog.records)
    assert json.loads((out / "train_summary.json").read_text())["global_step"] == 3
    caplog.clear()
    assert main(small_run(tiny_model_dir, kd_data, out, 3)) == 0  # finished: no step past the end
    assert any("nothing left to train" in r.getMessage() for r in caplog.records)
    assert json.loads((out / "train_summary.json").read_text())["global_step"] == 3

    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert "<|im_start|>" in tokenizer.chat_template
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "I have a cough."}], add_generation_prompt=True, return_tensors="pt",
        return_dict=True,
    )  # fmt: skip
    generated = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert generated.shape[1] > ids["input_ids"].shape[1]


def test_stage_sr_continues_from_stage_kd_output(
    tiny_model_dir: Path, make_store: Make, tmp_path: Path
) -> None:
    store = make_store()
    build_dataset(store, "kd", tmp_path / "kd", 0.0)
    build_dataset(store, "sr", tmp_path / "sr", 0.0)
    kd_out, sr_out = tmp_path / "kd-out", tmp_path / "sr-out"
    assert main(small_run(tiny_model_dir, tmp_path / "kd", kd_out, 1)) == 0
    sr_recipe = RECIPE.replace("kd.yaml", "sr.yaml")
    argv = small_run(kd_out, tmp_path / "sr", sr_out, 1)
    argv[argv.index(RECIPE)] = sr_recipe
    assert main(argv) == 0
    settings = json.loads((sr_out / "muser_sft_config.json").read_text())
    assert settings["model"] == str(kd_out) and settings["learning_rate"] == 1e-3  # the flag overrides 5e-6
    assert (sr_out / "model.safetensors").is_file()
