"""The builder's layout rules that are not gate rules: the <think> split of a stored answer, the exact-duplicate
key, the train/validation split and the trained assistant turn (the per-record rules are nodes/gate/rules.py)."""

from __future__ import annotations

import hashlib
from typing import Literal

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"

Split = Literal["train", "validation"]


def split_think(reasoning: str, answer: str) -> tuple[str, str]:
    """Separate a `<think>` block a stored answer still carries from its answer part.

    A block that is opened but never closed is all reasoning: the answer part is then empty (the paper's
    "no answer part" case, where the model kept thinking and never answered).
    """
    text = answer.strip()
    if CLOSE_TAG in text:
        head, _, tail = text.partition(CLOSE_TAG)
        inner = head.split(OPEN_TAG, 1)[-1].strip()
        return (reasoning.strip() or inner), tail.strip()
    if text.startswith(OPEN_TAG):
        inner = text[len(OPEN_TAG) :].strip()
        return (reasoning.strip() or inner), ""
    return reasoning.strip(), text


def normalise(text: str) -> str:
    """Case- and whitespace-insensitive form used to spot duplicates."""
    return " ".join(text.split()).casefold()


def dedup_key(query: str, answer: str) -> bytes:
    """Two rows with the same normalised query and answer are duplicates; the first (lowest id) stays."""
    return hashlib.sha256(f"{normalise(query)}\x00{normalise(answer)}".encode()).digest()[:16]


def split_of(record_id: int, validation_fraction: float, salt: str = "muser") -> Split:
    """Assign a record to train or validation from a hash of its id alone.

    The assignment never depends on which other rows exist, so re-building after more runs keeps every
    earlier record on the same side.
    """
    digest = hashlib.sha256(f"{salt}:{record_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return "validation" if position < validation_fraction else "train"


def assistant_content(reasoning: str, answer: str) -> str:
    """The assistant turn as trained: `<think>` reasoning `</think>` then the answer (Qwen3's own layout)."""
    return f"{OPEN_TAG}\n{reasoning.strip()}\n{CLOSE_TAG}\n\n{answer.strip()}"
