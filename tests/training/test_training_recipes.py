"""Recipes carry the paper's hyperparameters exactly (Appendix D), and the DeepSpeed configs defer to HF."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import training
from training.sft_config import known_keys, parse_sft_args

PACKAGE = Path(training.__file__).parent
RECIPES = PACKAGE / "recipes"
# backbone -> processes the recipe assumes (GPUs; 1 for the CPU recipe)
BACKBONES = {"qwen3-32b": 16, "qwen3-14b": 8, "smollm2-135m": 1}
PAPER = {
    "kd": {"learning_rate": 4e-5, "batch": 32, "num_train_epochs": 6},
    "sr": {"learning_rate": 5e-6, "batch": 16, "num_train_epochs": 6},
}
SHARED = {
    "optim": "adamw_torch",
    "weight_decay": 0.01,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 0.1,  # a fraction of the total steps in transformers 5: the paper's 10% linear warm-up
    "completion_only_loss": True,
}


def load(backbone: str, stage: str) -> dict:
    return yaml.safe_load((RECIPES / backbone / f"{stage}.yaml").read_text())


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("stage", ["kd", "sr"])
def test_recipe_matches_the_paper(backbone: str, stage: str) -> None:
    recipe = load(backbone, stage)
    paper = PAPER[stage]
    assert recipe["learning_rate"] == paper["learning_rate"]
    assert recipe["num_train_epochs"] == paper["num_train_epochs"]
    assert recipe["effective_batch_size"] == paper["batch"]
    per_step = recipe["per_device_train_batch_size"] * recipe["gradient_accumulation_steps"]
    assert per_step * BACKBONES[backbone] == paper["batch"]
    assert {key: recipe[key] for key in SHARED} == SHARED
    assert set(recipe) <= known_keys()
    assert recipe["dataset_dir"] == f"data/{stage}"


@pytest.mark.parametrize("backbone", BACKBONES)
def test_stage_sr_starts_from_stage_kd_output(backbone: str) -> None:
    kd, sr = load(backbone, "kd"), load(backbone, "sr")
    assert Path(sr["model_name_or_path"]) == Path(kd["output_dir"])
    assert sr["output_dir"] != kd["output_dir"]


@pytest.mark.parametrize("backbone", ["qwen3-32b", "qwen3-14b"])
def test_gpu_recipes_use_bf16_checkpointing_and_zero3(backbone: str) -> None:
    for stage in ("kd", "sr"):
        recipe = load(backbone, stage)
        assert recipe["bf16"] is True and recipe["dtype"] == "bfloat16"
        assert recipe["gradient_checkpointing"] is True and recipe["padding_free"] is True
        assert (PACKAGE.parent / recipe["deepspeed"]).is_file()
    assert (
        load(backbone, "kd")["model_name_or_path"]
        == {"qwen3-32b": "Qwen/Qwen3-32B", "qwen3-14b": "Qwen/Qwen3-14B"}[backbone]
    )


def test_cpu_recipe_parses_with_trls_parser_and_flags_override_it() -> None:
    config, model_args = parse_sft_args(
        ["--config", str(RECIPES / "smollm2-135m" / "kd.yaml"), "--learning_rate", "1e-5"]
    )
    assert config.learning_rate == 1e-5  # the flag wins over the recipe
    assert config.num_train_epochs == 6 and config.weight_decay == 0.01
    assert config.get_warmup_steps(100) == 10
    assert model_args.model_name_or_path == "cache:smollm2-135m-instruct"
    assert config.bf16 is False and config.gradient_checkpointing is False


@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_configs_leave_batch_and_precision_to_hf(stage: int) -> None:
    config = json.loads((PACKAGE / "deepspeed" / f"zero{stage}.json").read_text())
    assert config["zero_optimization"]["stage"] == stage
    for key in (
        "train_micro_batch_size_per_gpu",
        "gradient_accumulation_steps",
        "train_batch_size",
        "gradient_clipping",
    ):
        assert config[key] == "auto"
    assert config["bf16"]["enabled"] == "auto"
    assert "optimizer" not in config and "scheduler" not in config  # AdamW + cosine come from the recipe
    if stage == 3:
        assert config["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


def test_zero3_offload_keeps_adamw_with_the_recipes_hyperparameters() -> None:
    config = json.loads((PACKAGE / "deepspeed" / "zero3_offload.json").read_text())
    zero = config["zero_optimization"]
    assert zero["stage"] == 3 and zero["offload_optimizer"]["device"] == "cpu"
    # DeepSpeed's CPU AdamW, every value filled in by transformers from the recipe (lr, betas, eps, decay)
    assert config["optimizer"] == {
        "type": "AdamW",
        "params": {"lr": "auto", "betas": "auto", "eps": "auto", "weight_decay": "auto"},
    }
    assert "scheduler" not in config  # the cosine schedule with warm-up still comes from the recipe
