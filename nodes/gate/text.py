"""The word unit every gate rule counts: case-folded runs of letters and digits (markup never counts)."""

from __future__ import annotations

import re

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def words(text: str) -> list[str]:
    """Case-folded words of `text`; punctuation, bullets and markdown markers are dropped."""
    return WORD.findall(text.casefold())


def ngrams(tokens: list[str], n: int) -> list[str]:
    """Consecutive `n`-word windows joined by one space (none when `tokens` is shorter than `n`)."""
    return [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
