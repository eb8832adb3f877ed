"""Prompt/completion records, the `<think>` survival check, and the loss mask TRL builds from them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from state.errors import InputError
from training.data import build_dataset
from training.dataset.chat_format import ensure_reasoning_kept, reasoning_kept, to_prompt_completion
from training.preflight import Plan

RECORD = {
    "id": 3,
    "messages": [
        {"role": "user", "content": "q?"},
        {"role": "assistant", "content": "<think>\nwhy\n</think>\n\nanswer"},
    ],
}
STRIP_THINK = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{{ m['content'].split('</think>')[-1] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture
def tokenizer(tiny_model_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_to_prompt_completion_splits_off_the_assistant_turn() -> None:
    converted = to_prompt_completion(RECORD)
    assert converted == {"prompt": RECORD["messages"][:1], "completion": RECORD["messages"][1:]}
    with pytest.raises(ValueError):
        to_prompt_completion({"id": 1, "messages": RECORD["messages"][:1]})


def test_chatml_and_qwen3_templates_keep_the_reasoning(tokenizer) -> None:
    from trl.chat_template_utils import qwen3_chat_template

    assert reasoning_kept(tokenizer)
    assert reasoning_kept(tokenizer, qwen3_chat_template)
    assert ensure_reasoning_kept(tokenizer, "tiny") is None


def test_qwen3_drops_reasoning_of_earlier_turns_which_is_why_records_are_single_turn(tokenizer) -> None:
    from trl.chat_template_utils import qwen3_chat_template

    two_turns = [*RECORD["messages"], {"role": "user", "content": "and?"}, RECORD["messages"][1]]
    text = tokenizer.apply_chat_template(two_turns, tokenize=False, chat_template=qwen3_chat_template)
    assert text.count("why") == 1  # only the last assistant turn keeps its <think> block


def test_a_template_that_loses_reasoning_is_swapped_for_trls_training_variant(tokenizer) -> None:
    from trl.chat_template_utils import deepseek_r1_distill_chat_template as r1

    tokenizer.chat_template = r1
    assert not reasoning_kept(tokenizer)
    assert ensure_reasoning_kept(tokenizer, "r1") == r1
    assert tokenizer.chat_template != r1 and reasoning_kept(tokenizer)


def test_an_unfixable_template_is_a_one_line_error(tokenizer) -> None:
    tokenizer.chat_template = STRIP_THINK
    with pytest.raises(InputError, match="drops the <think> reasoning"):
        ensure_reasoning_kept(tokenizer, "strip")


def test_prompt_tokens_are_masked_and_the_think_block_is_trained(
    tiny_model_dir: Path, tokenizer, make_store: Callable[..., Path], tmp_path: Path
) -> None:
    from trl import SFTTrainer

    from training.sft import load_splits
    from training.sft_config import MuserSFTConfig

    build_dataset(make_store(), "kd", tmp_path / "kd", 0.0)
    train, _ = load_splits(
        Plan(str(tiny_model_dir), tmp_path / "out", tmp_path / "kd" / "train.jsonl", None, None, 1)
    )
    config = MuserSFTConfig(
        output_dir=str(tmp_path / "out"),
        max_length=1024,
        bf16=False,
        use_cpu=True,
        gradient_checkpointing=False,
        report_to="none",
        completion_only_loss=True,
    )
    trainer = SFTTrainer(
        model=str(tiny_model_dir), args=config, train_dataset=train, processing_class=tokenizer
    )
    example = trainer.train_dataset[0]
    ids, labels = example["input_ids"], example["labels"]
    prompt = train[0]["prompt"]
    prompt_ids = tokenizer.apply_chat_template(
        prompt, add_generation_prompt=True, tokenize=True, return_dict=False
    )
    prompt_len = len(prompt_ids)
    assert 0 < prompt_len < len(ids)
    assert all(label == -100 for label in labels[:prompt_len])
    assert labels[prompt_len:] == ids[prompt_len:]
    trained = tokenizer.decode(ids[prompt_len:])
    assert trained.startswith("<think>\nThe user reports") and trained.rstrip().endswith("<|im_end|>")
