"""The GPU smoke's CPU-checkable parts: its commands, its inputs (random-init model, synthetic records), its
report, and (slow) the whole flow as one plain CPU process."""

from __future__ import annotations

import itertools
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from training.smoke.data import ARCHITECTURES, write_dataset, write_model
from training.smoke.plan import Launch
from training.smoke.report import render, row

ROOT = Path(__file__).parents[2]


def smoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "training.gpu_smoke", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_dry_run_lists_kd_zero3_then_sr_zero2_through_both_launchers(tmp_path: Path) -> None:
    proc = smoke("--dry-run", "--gpus", "2", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    commands = [shlex.split(line) for line in proc.stdout.strip().splitlines()]
    assert [Path(c[0]).name for c in commands] == ["deepspeed", "accelerate", "deepspeed", "accelerate"]
    assert commands[0][1:3] == ["--num_gpus", "2"] and "--multi_gpu" in commands[1]
    for cmd, stage, zero in zip(
        commands, ["kd", "kd", "sr", "sr"], ["zero3", "zero3", "zero2", "zero2"], strict=True
    ):
        flags = dict(itertools.pairwise(cmd))
        assert flags["--config"].endswith(f"qwen3-14b/{stage}.yaml") and flags["--deepspeed"].endswith(
            f"{zero}.json"
        )
        assert flags["--effective_batch_size"] == str(4 * 4 * 2)  # batch x accumulation x GPUs
        assert flags["--max_length"] == "4096"
    sr_model = dict(itertools.pairwise(commands[2]))["--model_name_or_path"]
    assert sr_model == str(tmp_path / "kd-deepspeed")  # sr continues from the deepspeed launcher's kd model


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_without_a_gpu_it_refuses_in_one_line(tmp_path: Path) -> None:
    proc = smoke("--out", str(tmp_path / "s"))
    assert proc.returncode == 2 and proc.stderr.strip().splitlines()[-1].startswith(
        "error: no CUDA GPU visible"
    )
    assert not (tmp_path / "s").exists()


def test_a_missing_launcher_is_named(tmp_path: Path) -> None:
    """An interpreter with no deepspeed beside it and none on PATH: the launcher is named."""
    (tmp_path / "bin").mkdir()
    python = tmp_path / "bin" / "python"
    python.symlink_to(sys.executable)
    proc = subprocess.run(
        [str(python), "-m", "training.gpu_smoke", "--out", str(tmp_path / "s")],
        capture_output=True, text=True, cwd=ROOT, env={"PATH": str(tmp_path), "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: `deepspeed` is neither beside this Python")


@pytest.mark.skipif(not (Path(sys.executable).parent / "deepspeed").is_file(), reason="deepspeed not beside python")
def test_launcher_beside_the_interpreter_is_found_without_path(tmp_path: Path) -> None:
    """A venv used without activating it: deepspeed beside the interpreter counts, PATH empty."""
    proc = subprocess.run(
        [sys.executable, "-m", "training.gpu_smoke", "--out", str(tmp_path / "s"), "--dry-run"],
        capture_output=True, text=True, cwd=ROOT, env={"PATH": str(tmp_path), "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert str(Path(sys.executable).parent / "deepspeed") in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--launchers", "slurm"], "--launchers 'slurm'"),
        (["--cpu"], "--cpu runs one plain process"),
        (["--kd-steps", "0"], "--kd-steps must be at least 1"),
        (["--min-words", "900", "--max-words", "100"], "--min-words 900 is above --max-words 100"),
    ],
)
def test_bad_arguments_are_one_line_errors(args: list[str], words: str) -> None:
    proc = smoke(*args, "--dry-run")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {words}")


def test_synthetic_records_are_chat_records_within_the_word_range(tmp_path: Path) -> None:
    write_dataset(tmp_path, 20, 50, 80, seed=3)
    train = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    validation = (tmp_path / "validation.jsonl").read_text().splitlines()
    assert len(train) == 16 and len(validation) == 4
    for record in train:
        user, assistant = record["messages"]
        assert user["role"] == "user" and assistant["role"] == "assistant"
        reasoning, answer = assistant["content"].removeprefix("<think>\n").split("\n</think>\n\n")
        assert 50 <= len(reasoning.split()) + len(answer.split()) <= 80
    write_dataset(tmp_path / "again", 20, 50, 80, seed=3)
    assert (tmp_path / "again" / "train.jsonl").read_text() == (tmp_path / "train.jsonl").read_text()


def test_model_is_random_init_from_the_architecture_config(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    first, second = write_model(tmp_path / "a", "tiny", 0), write_model(tmp_path / "b", "tiny", 1)
    model = AutoModelForCausalLM.from_pretrained(first)
    tokenizer = AutoTokenizer.from_pretrained(first)
    arch = ARCHITECTURES["tiny"]
    assert model.config.model_type == "qwen3" and model.config.num_hidden_layers == arch["num_hidden_layers"]
    assert model.config.hidden_size == arch["hidden_size"] and model.config.vocab_size == len(tokenizer)
    assert tokenizer.eos_token == "<|im_end|>" and model.config.eos_token_id == tokenizer.eos_token_id
    assert "<|im_start|>assistant" in tokenizer.apply_chat_template(
        [{"role": "user", "content": "fever?"}], tokenize=False, add_generation_prompt=True
    )
    other = AutoModelForCausalLM.from_pretrained(second)
    assert not torch.equal(model.model.layers[0].mlp.up_proj.weight, other.model.layers[0].mlp.up_proj.weight)


def test_report_rows_come_from_train_summaries() -> None:
    summary = {
        "global_step": 30, "first_loss": 10.4912, "last_loss": 8.3466,
        "throughput": {"tokens_per_second_per_device": 17400.2, "peak_memory_gib": 41.5, "mfu": 0.0518},
    }  # fmt: skip
    ok = row(Launch("kd-deepspeed", "kd", "deepspeed", "zero3", 30), summary, 0, 95.04)
    failed = row(Launch("sr-accelerate", "sr", "accelerate", "zero2", 10), None, 1, 12.0)
    assert ok == {
        "run": "kd-deepspeed", "launcher": "deepspeed", "zero": "zero3", "exit": 0, "steps": 30,
        "first_loss": 10.491, "last_loss": 8.347, "tokens_per_s_per_gpu": 17400.2, "peak_mem_gib": 41.5,
        "mfu": 0.0518, "wall_s": 95.0,
    }  # fmt: skip
    assert failed["exit"] == 1 and failed["tokens_per_s_per_gpu"] is None
    table = render([ok, failed]).splitlines()
    assert table[0].split()[:3] == ["run", "launcher", "zero"] and len(table) == 3
    assert table[1].split()[7] == "17400.2" and table[2].split()[7] == "-"


@pytest.mark.slow
def test_whole_smoke_as_one_cpu_process(tmp_path: Path) -> None:
    out = tmp_path / "smoke"
    proc = smoke(
        "--cpu", "--launchers", "python", "--arch", "tiny", "--records", "12", "--min-words", "20",
        "--max-words", "60", "--max-length", "512", "--kd-steps", "2", "--sr-steps", "1", "--batch", "2",
        "--accumulation", "1", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "gpu_smoke.json").read_text())
    assert [r["run"] for r in report["runs"]] == ["kd-python", "sr-python"]
    assert all(r["exit"] == 0 and r["tokens_per_s_per_gpu"] > 0 for r in report["runs"])
    assert report["runs"][0]["steps"] == 2 and report["generated"] is not None
    sr_settings = json.loads((out / "sr-python" / "muser_sft_config.json").read_text())
    assert sr_settings["model"] == str(out / "kd-python")
