"""train_summary.json's throughput (tokens/s, MFU, peak memory) and the whole-record length rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from state.errors import InputError
from training.sft import main
from training.throughput import count_parameters, peak_tflops, throughput
from training.trainer import keep_within

CPU_RECIPE = str(Path(__file__).parents[2] / "training" / "recipes" / "smollm2-135m" / "kd.yaml")


@pytest.mark.parametrize(
    ("name", "peak"),
    [
        ("NVIDIA H100 80GB HBM3", 989.0),
        ("NVIDIA H100 PCIe", 756.0),
        ("NVIDIA H200", 989.0),
        ("NVIDIA GH200 480GB", 989.0),
        ("NVIDIA A100-SXM4-80GB", 312.0),
        ("NVIDIA L40S", 362.0),
        ("NVIDIA L40", 181.0),
        ("NVIDIA L4", 121.0),
        ("Some Future Accelerator", None),
        (None, None),
    ],
)
def test_peak_tflops_by_device_name(
    name: str | None, peak: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MUSER_PEAK_TFLOPS", raising=False)
    assert peak_tflops(name) == peak


def test_peak_tflops_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSER_PEAK_TFLOPS", "500")
    assert peak_tflops("NVIDIA H100 80GB HBM3") == 500.0
    monkeypatch.setenv("MUSER_PEAK_TFLOPS", "fast")
    assert peak_tflops("NVIDIA H100 80GB HBM3") is None


def test_throughput_reproduces_the_first_gpu_run() -> None:
    # issue 12's kd run: 1.06M tokens in 182.8 s on one H100, 491M parameters -> 5.8k tokens/s, about 2% MFU
    got = throughput(1_060_000, 182.8, 491_000_000, 1, 989.0, peak_memory_bytes=40 * 2**30)
    assert got["tokens_per_second_per_device"] == pytest.approx(5798.7, abs=0.1)
    assert got["model_tflops_per_device"] == pytest.approx(6 * 491e6 * 1_060_000 / 182.8 / 1e12, abs=1e-3)
    assert got["mfu"] == pytest.approx(0.0173, abs=1e-4)
    assert got["peak_memory_gib"] == 40.0


def test_throughput_divides_by_processes_and_has_no_mfu_without_a_peak() -> None:
    got = throughput(16_000_000, 100.0, 1_000_000, 2, None)
    assert got["tokens_per_second"] == 160_000.0 and got["tokens_per_second_per_device"] == 80_000.0
    assert got["mfu"] is None and got["peak_memory_gib"] is None
    assert throughput(10, 0.0, 1, 1, 989.0)["tokens_per_second"] == 0.0


def test_count_parameters_counts_zero3_partitioned_weights() -> None:
    layer = torch.nn.Linear(4, 3)
    assert count_parameters(layer) == 15
    layer.weight.data = torch.empty(0)  # what ZeRO-3 leaves in a partitioned parameter
    layer.weight.ds_numel = 12  # type: ignore[attr-defined]
    assert count_parameters(layer) == 15


def test_keep_within() -> None:
    assert keep_within([10, 30, 20, 31], 30) == [0, 1, 2]
    assert keep_within([10, 30], None) == [0, 1]


def record_lengths(model_dir: Path, data: Path) -> list[int]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()]
    return [
        len(tokenizer.apply_chat_template(r["messages"], tokenize=True, return_dict=True)["input_ids"])
        for r in rows
    ]


def run_args(model: Path, data: Path, out: Path, max_length: int) -> list[str]:
    return [
        "--config", CPU_RECIPE, "--model_name_or_path", str(model), "--dataset_dir", str(data),
        "--output_dir", str(out), "--max_steps", "2", "--per_device_train_batch_size", "2",
        "--gradient_accumulation_steps", "1", "--effective_batch_size", "2", "--max_length", str(max_length),
        "--save_strategy", "no", "--eval_strategy", "no",
    ]  # fmt: skip


def test_over_length_records_are_dropped_whole_and_counted(
    tiny_model_dir: Path, kd_dataset: Path, tmp_path: Path
) -> None:
    lengths = record_lengths(tiny_model_dir, kd_dataset)
    limit = sorted(lengths)[len(lengths) // 2]
    assert 0 < sum(n > limit for n in lengths) < len(lengths)
    out = tmp_path / "out"
    assert main(run_args(tiny_model_dir, kd_dataset, out, limit)) == 0
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["data"]["dropped_over_max_length"] == sum(n > limit for n in lengths)
    assert summary["data"]["records"] == sum(n <= limit for n in lengths)
    assert summary["data"]["length_tokens"]["p100"] == max(lengths) and summary["data"]["max_length"] == limit
    speed = summary["throughput"]
    assert 0 < speed["tokens"] <= 4 * limit  # 2 steps x 2 records, none longer than the limit
    assert speed["tokens_per_second_per_device"] > 0 and speed["mfu"] is None and summary["device"] == "cpu"
    assert speed["parameters"] == sum(p.numel() for p in _load(out).parameters())

    with pytest.raises(
        InputError, match=f"every training record is longer than max_length {min(lengths) - 1}"
    ):
        main(run_args(tiny_model_dir, kd_dataset, tmp_path / "none", min(lengths) - 1))


def _load(path: Path) -> torch.nn.Module:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path)
