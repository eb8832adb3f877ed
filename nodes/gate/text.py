"""The word unit every gate rule counts: case-folded runs of letters and digits (markup never counts).

N-grams are tuples of words built by `zip` in C: a rule tokenises a text once and tests its n-grams against a
set with `isdisjoint`, so a clean text (the usual case) never builds a joined string.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")  # [^\W_] is exactly str.isalnum()
# An apostrophe not between two word characters (led by the apostrophe itself, so the scan is fast).
LONE_APOSTROPHE = re.compile(r"['’](?:(?<![^\W_]['’])|(?![^\W_]))")
# ASCII characters that can never be in a word: mapped to a space (the apostrophe is kept for the regex).
ASCII_SEPARATORS = {code: " " for code in range(128) if not chr(code).isalnum() and chr(code) != "'"}

Gram = tuple[str, ...]


@lru_cache(maxsize=1024)
def words(text: str) -> list[str]:
    """Case-folded words of `text`; punctuation, bullets and markdown markers are dropped.

    Cached for the last 1,024 texts: the rules of one record, and the batch of queries the dataset builder
    judges (`training.dataset.workers.CHUNK`), ask for the same query and answer several times.
    Callers must not change the list.

    Same as `WORD.findall(text.casefold())` (a test checks it), about 3x faster: ASCII punctuation becomes
    spaces in one `translate`, apostrophes outside a word too, and only tokens left with something besides
    letters, digits and inner apostrophes (non-ASCII punctuation) go through the regex."""
    folded = text.casefold()
    if "'" in folded or "’" in folded:
        folded = LONE_APOSTROPHE.sub(" ", folded)  # what is left joins two word characters: inside a word
    tokens = folded.translate(ASCII_SEPARATORS).split()
    if not tokens or "".join(tokens).replace("'", "").replace("’", "").isalnum():  # the usual case
        return tokens
    return [word for token in tokens for word in ((token,) if token.isalnum() else WORD.findall(token))]


def count_words(text: str | None) -> int:
    """Whitespace-separated words: the unit of `min_answer_words` (the paper's 50-word rule), of the run
    report and of the data card. (`words` is the rules' finer unit for n-grams.)"""
    return len(text.split()) if text else 0


def grams(tokens: list[str], n: int) -> Iterator[Gram]:
    """Consecutive `n`-word windows as tuples (none when `tokens` is shorter than `n`)."""
    return zip(*(tokens[i:] for i in range(n)), strict=False)  # shorter tails end the windows


def ngrams(tokens: list[str], n: int) -> list[str]:
    """Consecutive `n`-word windows joined by one space (none when `tokens` is shorter than `n`)."""
    return [" ".join(gram) for gram in grams(tokens, n)]
