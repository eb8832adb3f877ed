"""Auto-resume refuses a checkpoint written for other data or other settings, unless asked to resume anyway."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from state.errors import InputError, run_cli
from training.fingerprint import FILE
from training.sft import main

CPU_RECIPE = str(Path(__file__).parents[2] / "training" / "recipes" / "smollm2-135m" / "kd.yaml")


def argv(model: Path, data: Path, out: Path, steps: int, *extra: str) -> list[str]:
    return [
        "--config", CPU_RECIPE, "--model_name_or_path", str(model), "--dataset_dir", str(data),
        "--output_dir", str(out), "--max_steps", str(steps), "--per_device_train_batch_size", "2",
        "--gradient_accumulation_steps", "1", "--effective_batch_size", "2", "--max_length", "512",
        "--save_strategy", "steps", "--save_steps", "1", "--eval_strategy", "no", "--learning_rate", "1e-3", *extra,
    ]  # fmt: skip


def test_changed_data_or_settings_refuse_a_resume(
    tiny_model_dir: Path, kd_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(argv(tiny_model_dir, kd_dataset, out, 1)) == 0
    stored = json.loads((out / "checkpoint-1" / FILE).read_text())
    assert stored["settings"]["learning_rate"] == 1e-3 and len(stored["data_sha256"]) == 64

    with pytest.raises(
        InputError, match=r"belongs to another run \(changed: learning_rate \(0\.001 → 0\.002\)\)"
    ):
        main(argv(tiny_model_dir, kd_dataset, out, 2, "--learning_rate", "2e-3"))
    train = kd_dataset / "train.jsonl"
    lines = train.read_text().splitlines()
    train.write_text("\n".join(lines[:-1]) + "\n")  # one record fewer
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, argv(tiny_model_dir, kd_dataset, out, 2))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "changed: the dataset files" in err[0] and "--allow_changed_resume true" in err[0]
    )
    assert not (out / "checkpoint-2").exists()

    assert main(argv(tiny_model_dir, kd_dataset, out, 2, "--allow_changed_resume", "true")) == 0
    assert json.loads((out / "train_summary.json").read_text())["global_step"] == 2
