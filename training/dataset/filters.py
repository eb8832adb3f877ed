"""Pure rules the dataset builder applies: the paper's answer filters, de-duplication and the split."""

from __future__ import annotations

import hashlib
from typing import Literal

MIN_ANSWER_WORDS = 50
OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"

Split = Literal["train", "validation"]


def word_count(text: str) -> int:
    """Whitespace-separated words, the unit of the paper's 50-word rule."""
    return len(text.split())


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


def drop_reason(query: str, reasoning: str, answer: str) -> str | None:
    """Why a (q, reasoning, answer) triple must not be trained on, or None to keep it.

    Reasons: `no_query`, `no_answer` (empty answer part), `short_answer` (under 50 words),
    `think_tag_in_text` (a stray tag would corrupt the `<think>…</think>` layout of the assistant turn).
    """
    if not query.strip():
        return "no_query"
    if not answer.strip():
        return "no_answer"
    if word_count(answer) < MIN_ANSWER_WORDS:
        return "short_answer"
    if any(tag in part for part in (reasoning, answer) for tag in (OPEN_TAG, CLOSE_TAG)):
        return "think_tag_in_text"
    return None


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
