"""Token lengths of chat records as training will see them (the model's chat template, reasoning kept).

Used by `training.data --tokenizer` for the data card; transformers is imported only when asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from state.errors import InputError
from training.cache import resolve_model_ref
from training.dataset.chat_format import ensure_reasoning_kept

Counter = Callable[[dict[str, Any]], int]


def load_counter(ref: str) -> Counter:
    """A function giving a record's token count under the tokenizer of `ref` (directory, `cache:NAME`, Hub id)."""
    from transformers import AutoTokenizer

    path = resolve_model_ref(ref)
    try:
        tokenizer: Any = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"--tokenizer {ref}: cannot load a tokenizer from it ({type(exc).__name__}) — pass the model "
            "directory the recipe trains (its model_name_or_path)"
        ) from None
    ensure_reasoning_kept(tokenizer, path)

    def count(record: dict[str, Any]) -> int:
        encoded = tokenizer.apply_chat_template(record["messages"], tokenize=True, return_dict=True)
        return len(encoded["input_ids"])

    return count
