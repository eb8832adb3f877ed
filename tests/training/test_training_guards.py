"""Bad optimisation settings are refused before anything loads; a diverged run stops and saves no final model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from state.errors import InputError
from training.guards import check_hyperparameters, deepspeed_stage, model_placement

ROOT = Path(__file__).parents[2]
CPU_RECIPE = str(ROOT / "training" / "recipes" / "smollm2-135m" / "kd.yaml")
ZERO3 = str(ROOT / "training" / "deepspeed" / "zero3.json")


def settings(**overrides: object) -> SimpleNamespace:
    base = dict(
        learning_rate=4e-5, weight_decay=0.01, warmup_steps=0.1, max_grad_norm=1.0, adam_epsilon=1e-8,
        adam_beta1=0.9, adam_beta2=0.999, per_device_train_batch_size=4, gradient_accumulation_steps=8,
        num_train_epochs=6, max_steps=-1, max_length=1024,
    )  # fmt: skip
    return SimpleNamespace(**{**base, **overrides})


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("learning_rate", float("inf"), "--learning_rate is inf"),
        ("learning_rate", float("nan"), "--learning_rate is nan"),
        ("learning_rate", -1.0, "--learning_rate is -1.0: it must be a finite number above 0"),
        ("learning_rate", 0.0, "--learning_rate is 0.0"),
        ("weight_decay", -0.1, "--weight_decay is -0.1: it must be a finite number at least 0"),
        ("warmup_steps", float("inf"), "--warmup_steps is inf"),
        ("max_grad_norm", float("nan"), "--max_grad_norm is nan"),
        ("adam_beta2", 1.0, "--adam_beta2 is 1.0: it must be below 1"),
        ("num_train_epochs", float("inf"), "--num_train_epochs is inf"),
        ("num_train_epochs", 0, "--num_train_epochs is 0.0"),
        ("max_length", 0, "--max_length is 0"),
        ("max_steps", 0, "--max_steps is 0: give a positive number of optimizer steps"),
    ],
)
def test_bad_values_are_refused(field: str, value: float, words: str) -> None:
    with pytest.raises(InputError, match="^" + words.replace(".", r"\.").replace("+", r"\+")):
        check_hyperparameters(settings(**{field: value}))


def test_good_values_pass_and_max_steps_stands_in_for_epochs() -> None:
    check_hyperparameters(settings())
    check_hyperparameters(settings(num_train_epochs=0, max_steps=10, warmup_steps=0, weight_decay=0))


@pytest.mark.parametrize("value", ["inf", "-1", "nan"])
def test_cli_refuses_learning_rate_before_loading_anything(tmp_path: Path, value: str) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "training.sft", "--config", CPU_RECIPE, "--learning_rate", value,
         "--dataset_dir", str(tmp_path / "no-data"), "--output_dir", str(out)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert (
        lines[-1].startswith(f"error: --learning_rate is {float(value)!r}") and "Traceback" not in proc.stderr
    )
    assert not out.exists()  # refused before the dataset, the model or the output directory was touched


def test_zero3_refuses_a_device_map_and_loads_without_one(tmp_path: Path) -> None:
    config = SimpleNamespace(deepspeed=ZERO3, model_init_kwargs={"device_map": "auto"})
    with pytest.raises(InputError, match="ZeRO-3 partitions the model itself"):
        model_placement(config, 1)
    assert model_placement(SimpleNamespace(deepspeed=ZERO3, model_init_kwargs=None), 1) == {
        "device_map": None
    }
    assert model_placement(SimpleNamespace(deepspeed=None, model_init_kwargs=None), 4) == {"device_map": None}
    assert model_placement(SimpleNamespace(deepspeed=None, model_init_kwargs=None), 1) == {}
    assert deepspeed_stage(ZERO3) == 3 and deepspeed_stage(None) is None
    with pytest.raises(InputError, match=r"DeepSpeed config .*nope\.json not found"):
        deepspeed_stage(str(tmp_path / "nope.json"))


def test_cli_refuses_zero3_with_device_map_in_one_line(tmp_path: Path) -> None:
    pytest.importorskip("deepspeed")
    (tmp_path / "train.jsonl").write_text(json.dumps({"messages": []}) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "training.sft", "--config", CPU_RECIPE, "--deepspeed", ZERO3,
         "--model_init_kwargs", '{"device_map": "auto"}', "--dataset_dir", str(tmp_path),
         "--output_dir", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ZeRO-3 partitions the model itself")
    assert "Traceback" not in proc.stderr


def test_diverging_run_stops_with_exit_1_and_saves_no_final_model(
    tiny_model_dir: Path, kd_dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "training.sft", "--config", CPU_RECIPE, "--model_name_or_path", str(tiny_model_dir),
         "--dataset_dir", str(kd_dataset), "--output_dir", str(out), "--learning_rate", "1e30",
         "--max_steps", "4", "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1",
         "--effective_batch_size", "2", "--warmup_steps", "0", "--save_strategy", "no", "--eval_strategy", "no"],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and re.match(r"error: training stopped at step [2-4]: the loss is nan", errors[0])
    assert "Traceback" not in proc.stderr
    assert not (out / "model.safetensors").exists() and not (out / "train_summary.json").exists()
    assert not (out / "muser_sft_config.json").exists()  # no checkpoint: the run leaves no settings file either


def test_cli_refuses_max_steps_zero(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "training.sft", "--config", CPU_RECIPE, "--max_steps", "0",
         "--dataset_dir", str(tmp_path / "no-data"), "--output_dir", str(out)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("error: --max_steps is 0") and "Traceback" not in proc.stderr
    assert not out.exists()
