"""Offline inputs for the GPU smoke: synthetic chat records, a tokenizer trained on them, a random-init model.

Nothing is downloaded: the model is built from an architecture config (Qwen3-0.6B's shape by default) with
random weights, which is all a throughput and plumbing check needs.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
WORDS = (
    "fever",
    "cough",
    "pain",
    "dose",
    "child",
    "adult",
    "week",
    "days",
    "blood",
    "pressure",
    "heart",
    "rate",
    "rash",
    "swelling",
    "doctor",
    "clinic",
    "urgent",
    "symptoms",
    "history",
    "allergy",
    "medicine",
    "tablet",
    "infection",
    "virus",
    "bacteria",
    "rest",
    "fluids",
    "sleep",
    "diet",
    "exercise",
    "breathing",
    "chest",
    "stomach",
    "headache",
    "dizziness",
    "nausea",
    "vomiting",
    "test",
    "result",
    "follow-up",
    "referral",
    "risk",
    "safe",
    "warning",
    "sign",
    "emergency",
    "monitor",
    "temperature",
    "weight",
    "age",
    "pregnancy",
    "kidney",
    "liver",
    "skin",
    "eye",
    "ear",
)
# Qwen3-0.6B's architecture (its public config.json); vocab_size follows the smoke's own tokenizer
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "qwen3-0.6b": {
        "model_type": "qwen3", "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
        "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "max_position_embeddings": 40960,
        "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
    },
    "tiny": {
        "model_type": "qwen3", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 8192,
        "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
    },
}  # fmt: skip


def synthetic_record(rng: random.Random, record_id: int, min_words: int, max_words: int) -> dict[str, Any]:
    """One chat record shaped like the pipeline's: a query, then `<think>reasoning</think>answer`."""
    total = rng.randint(min_words, max_words)
    query = " ".join(rng.choices(WORDS, k=rng.randint(15, 60))) + "?"
    reasoning = " ".join(rng.choices(WORDS, k=total // 3))
    answer = " ".join(rng.choices(WORDS, k=total - total // 3))
    return {
        "id": record_id,
        "messages": [
            {"role": "user", "content": query},
            {"role": "assistant", "content": f"<think>\n{reasoning}\n</think>\n\n{answer}"},
        ],
    }


def write_dataset(
    out: Path, records: int, min_words: int, max_words: int, seed: int, validation: int = 4
) -> Path:
    """train.jsonl (+ a small validation.jsonl) of synthetic records in `out`; returns `out`."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    rows = [synthetic_record(rng, i, min_words, max_words) for i in range(records)]
    for name, part in (("train", rows[validation:]), ("validation", rows[:validation])):
        lines = "".join(json.dumps(row) + "\n" for row in part)
        (out / f"{name}.jsonl").write_text(lines, encoding="utf-8")
    return out


def train_tokenizer(vocab_size: int = 4096) -> Any:
    """A byte-level BPE tokenizer with ChatML turns, trained on the synthetic vocabulary (no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    specials = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
    corpus = [" ".join(WORDS), "user assistant system", *WORDS]
    raw.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="<unk>", eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = CHATML
    return tokenizer


def architecture(name_or_file: str) -> dict[str, Any]:
    """A built-in architecture by name, or the fields of a local config.json."""
    if name_or_file in ARCHITECTURES:
        return dict(ARCHITECTURES[name_or_file])
    path = Path(name_or_file)
    if not path.is_file():
        from state.errors import InputError

        raise InputError(f"--arch {name_or_file}: neither {', '.join(ARCHITECTURES)} nor a config.json file")
    return json.loads(path.read_text(encoding="utf-8"))


def write_model(out: Path, arch: str, seed: int) -> Path:
    """Save a random-init causal LM of the architecture plus the smoke tokenizer to `out` (fp32 weights)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    tokenizer = train_tokenizer()
    fields = architecture(arch)
    fields.pop("torch_dtype", None)
    fields.pop("dtype", None)
    model_type = fields.pop("model_type")
    fields.update(
        vocab_size=len(tokenizer),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    for key in ("architectures", "transformers_version", "_name_or_path"):
        fields.pop(key, None)
    config = AutoConfig.for_model(model_type, **fields)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
