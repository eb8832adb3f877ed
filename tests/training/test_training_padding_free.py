"""Padding-free batches (the GPU recipes' default): position ids restart per record, records never see each
other, and the loss stays on the assistant tokens only. Hand-built records, a minute random model, CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

from training.sft import build_trainer
from training.sft_config import parse_sft_args

RECIPE = str(Path(__file__).parents[2] / "training" / "recipes" / "qwen3-14b" / "kd.yaml")
RECORDS = [
    {"input_ids": [5, 6, 7, 8], "labels": [-100, -100, 7, 8]},
    {"input_ids": [9, 10, 11], "labels": [-100, 10, 11]},
    {"input_ids": [12, 13, 14, 15, 16], "labels": [-100, -100, -100, 15, 16]},
]


def test_collator_joins_records_with_position_ids_restarting_at_zero() -> None:
    batch = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(RECORDS)
    assert "attention_mask" not in batch
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 3, 4]]
    # prompt tokens and every record's first token carry no loss; the rest is the records' own labels
    assert batch["labels"].tolist() == [[-100, -100, 7, 8, -100, 10, 11, -100, -100, -100, 15, 16]]


@pytest.fixture(scope="module")
def tiny_qwen3() -> torch.nn.Module:
    config = AutoConfig.for_model(
        "qwen3", vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64, use_cache=False,
    )  # fmt: skip
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").train()


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_row_gives_each_record_its_own_logits(tiny_qwen3: torch.nn.Module, attention: str) -> None:
    tiny_qwen3.config._attn_implementation = attention
    batch = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(RECORDS)
    packed = tiny_qwen3(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits[0]
    alone = torch.cat([tiny_qwen3(input_ids=torch.tensor([r["input_ids"]])).logits[0] for r in RECORDS])
    torch.testing.assert_close(packed, alone, atol=1e-5, rtol=1e-4)
    # control: the same row with one running position lets later records attend to earlier ones
    running = torch.arange(batch["input_ids"].shape[1])[None]
    leaked = tiny_qwen3(input_ids=batch["input_ids"], position_ids=running).logits[0]
    assert not torch.allclose(leaked[4:], alone[4:], atol=1e-3)
    # and with a KV cache transformers skips the packed-sequence mask: why training loads with use_cache=False
    cached = tiny_qwen3(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=True)
    assert not torch.allclose(cached.logits[0][4:], alone[4:], atol=1e-3)


def test_trainer_batches_are_padding_free_with_assistant_only_labels(
    tiny_model_dir: Path, kd_dataset: Path, tmp_path: Path
) -> None:
    from training.preflight import preflight

    config, model_args = parse_sft_args(
        ["--config", RECIPE, "--model_name_or_path", str(tiny_model_dir), "--dataset_dir", str(kd_dataset),
         "--output_dir", str(tmp_path / "out"), "--per_device_train_batch_size", "3",
         "--gradient_accumulation_steps", "1", "--effective_batch_size", "3", "--bf16", "false",
         "--dtype", "float32", "--deepspeed", "", "--use_cpu", "true", "--gradient_checkpointing", "false",
         "--max_length", "512", "--eval_strategy", "no"]
    )  # fmt: skip
    assert config.padding_free is True
    trainer, tokenizer, _ = build_trainer(config, model_args, preflight(config, model_args))
    assert trainer.model.config.use_cache is False
    batch = next(iter(trainer.get_train_dataloader()))
    assert "attention_mask" not in batch and batch["input_ids"].shape[0] == 1
    positions, labels, ids = batch["position_ids"][0], batch["labels"][0], batch["input_ids"][0]
    starts = (positions == 0).nonzero().flatten().tolist()
    assert len(starts) == 3 and starts[0] == 0
    ends = [*starts[1:], len(positions)]
    for start, end in zip(starts, ends, strict=True):
        assert positions[start:end].tolist() == list(range(end - start))
        record_ids, record_labels = ids[start:end].tolist(), labels[start:end].tolist()
        text = tokenizer.decode(record_ids)
        prompt_part = text[: text.index("<|im_start|>assistant\n") + len("<|im_start|>assistant\n")]
        prompt_len = len(tokenizer(prompt_part, add_special_tokens=False)["input_ids"])
        assert set(record_labels[:prompt_len]) == {-100}  # no loss on the user's turn
        assert record_labels[prompt_len:] == record_ids[prompt_len:]  # loss on the whole assistant turn
        assert tokenizer.decode(record_ids[prompt_len:]).rstrip().endswith("<|im_end|>")
