"""Fixtures for the training tests (helpers live in training_store.py, a uniquely named module)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from training_store import CHATML, store_rows, write_store


@pytest.fixture
def make_store(tmp_path: Path) -> Callable[..., Path]:
    """Factory: `make_store(rows=None, name="store.sqlite", teacher=True)` writes a store under tmp_path."""

    def _make(
        rows: list[dict[str, Any]] | None = None, name: str = "store.sqlite", teacher: bool = True
    ) -> Path:
        return write_store(tmp_path / name, store_rows() if rows is None else rows, teacher)

    return _make


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A minute Llama model + byte-level BPE tokenizer with a ChatML template, saved like a real base model."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    texts = [r["query"] + " " + r["t_answer"] + " " + r["refined_reasoning"] for r in store_rows()]
    texts += ["<think> </think> user assistant system"]
    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=["<unk>", "<|im_start|>", "<|im_end|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        unk_token="<unk>",
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
    )
    tokenizer.chat_template = CHATML
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    out = tmp_path_factory.mktemp("tiny-model")
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture
def kd_dataset(make_store: Callable[..., Path], tmp_path: Path) -> Path:
    """A kd dataset (train.jsonl only) built from the default test store."""
    from training.data import build_dataset

    build_dataset(make_store(), "kd", tmp_path / "kd-data", 0.0)
    return tmp_path / "kd-data"
