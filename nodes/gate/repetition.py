"""Rule `repetition`: the Gopher repetition checks (Rae et al. 2021, Table A1), as datatrove implements them.

Written here rather than imported: datatrove 0.10.1's filter needs its Document type and a per-language word
tokenizer, and importing the filter takes ~1.1 s (its `pipeline.filters` package loads every filter) in each
worker for five short functions. Thresholds are Gopher's; three changes suit medical answers, which use bullet
lists and repeat section labels: words are runs of letters/digits (bullets and markdown never form n-grams),
a line of under `MIN_LINE_WORDS` words (a heading such as "Dose:", a lone bullet) never counts as a
duplicate line, and an n-gram that occurs once is never a "top" n-gram.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from operator import itemgetter

from nodes.gate.text import Gram, grams, words

REASON = "repetition"
MIN_LINE_WORDS = 3
PARAGRAPH = re.compile(r"\n\s*\n")
LINE = re.compile(r"\n+")


@dataclass(frozen=True)
class RepetitionLimits:
    """Gopher's thresholds: share of duplicate lines/paragraphs (by count and by characters), top n-gram
    character share for n=2..4, share of characters in repeated n-grams for n=5..10."""

    dup_line_frac: float = 0.30
    dup_para_frac: float = 0.30
    dup_line_char_frac: float = 0.20
    dup_para_char_frac: float = 0.20
    top_ngrams: tuple[tuple[int, float], ...] = ((2, 0.20), (3, 0.18), (4, 0.16))
    dup_ngrams: tuple[tuple[int, float], ...] = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))


def duplicates(items: list[str]) -> tuple[int, int]:
    """(count, characters) of the items that repeat an earlier one; short lines never count.

    Counted per distinct item, so only an item that occurs twice or more is split into words."""
    count = chars = 0
    for item, times in Counter(items).items():
        if times > 1 and len(words(item)) >= MIN_LINE_WORDS:
            count += times - 1
            chars += (times - 1) * len(item)
    return count, chars


def top_ngram_chars(tokens: list[str], n: int) -> int:
    """Characters covered by the most frequent n-gram, counting every occurrence (0 when none repeats:
    datatrove counts a lone n-gram too, which fails any text of a few words)."""
    counts = Counter(grams(tokens, n))
    if not counts:
        return 0
    gram, count = max(counts.items(), key=itemgetter(1))
    return (sum(map(len, gram)) + n - 1) * count if count > 1 else 0  # the length of " ".join(gram)


def top_ngrams_fail(tokens: list[str], size: int, top_ngrams: tuple[tuple[int, float], ...],
                    shortest: Counter[Gram] | None = None) -> bool:
    """True when a top n-gram covers more than its share of `size` characters, for any (n, share).

    A repeated n-gram occurs at most as often as the most frequent shortest-n-gram, and spans at most n of
    the longest words found in a repeated shortest-n-gram: when that bound is within the share, the n-gram's
    exact count is never needed (the usual case, even for text where "if you" and "of the" recur).
    `shortest`: the shortest n-grams' counts, when the caller has them."""
    if not tokens or not top_ngrams:
        return False
    if shortest is None:
        shortest = Counter(grams(tokens, min(n for n, _ in top_ngrams)))
    most = max(shortest.values(), default=0)
    if most < 2:
        return False  # no shortest n-gram repeats, so no longer one does
    # Every word of a repeated n-gram lies in a repeated shortest-n-gram: no longer than the longest of those.
    widest = max(len(word) for gram, times in shortest.items() if times > 1 for word in gram)
    return any(
        most * (n * widest + n - 1) / size > frac and top_ngram_chars(tokens, n) / size > frac
        for n, frac in top_ngrams
    )


def repeated_ngram_chars(tokens: list[str], n: int) -> int:
    """Characters in n-grams seen before, skipping past each repeat (datatrove's `find_all_duplicate`)."""
    seen: set[tuple[str, ...]] = set()
    chars = idx = 0
    while idx <= len(tokens) - n:
        gram = tuple(tokens[idx : idx + n])
        if gram in seen:
            chars += sum(map(len, gram))  # the length of "".join(gram)
            idx += n
        else:
            seen.add(gram)
            idx += 1
    return chars


def repeats_a_run(bigrams: list[Gram], counts: Counter[Gram], run: int) -> bool:
    """False when no `run` consecutive bigrams all occur twice or more: then no (run + 1)-gram repeats, since
    each bigram of a repeated n-gram occurs at both of its places."""
    if run < 1:
        return True
    repeated = bytes(map((2).__le__, map(counts.__getitem__, bigrams)))
    return b"\x01" * run in repeated


def repeat_cover(tokens: list[str], dup_ngrams: tuple[tuple[int, float], ...]) -> int:
    """An upper bound of `repeated_ngram_chars` for every n in `dup_ngrams`: the characters of the words
    within the longest n of a repeated shortest-n-gram (every repeated longer n-gram starts with one)."""
    shortest, longest = min(n for n, _ in dup_ngrams), max(n for n, _ in dup_ngrams)
    windows = list(grams(tokens, shortest))
    if len(set(windows)) == len(windows):
        return 0  # no shortest n-gram repeats (the usual case, decided in C)
    seen: set[tuple[str, ...]] = set()
    covered: set[int] = set()
    for i, gram in enumerate(windows):
        if gram in seen:
            covered.update(range(i, min(i + longest, len(tokens))))
        else:
            seen.add(gram)
    return sum(len(tokens[i]) for i in covered)


def repetition(text: str, limits: RepetitionLimits = RepetitionLimits()) -> str | None:
    """`repetition` when `text` fails any of the checks (it loops), else None."""
    body = text.strip()
    if not body:
        return None
    size = len(body)
    paragraphs = [p.strip() for p in PARAGRAPH.split(body) if p.strip()]
    count, chars = duplicates(paragraphs)
    if count / len(paragraphs) > limits.dup_para_frac or chars / size > limits.dup_para_char_frac:
        return REASON
    lines = [line.strip() for line in LINE.split(body) if line.strip()]
    count, chars = duplicates(lines)
    if count / len(lines) > limits.dup_line_frac or chars / size > limits.dup_line_char_frac:
        return REASON
    tokens = words(text)  # the same words as body's, and maybe cached for the record's other rules
    bigrams = list(grams(tokens, 2))
    counts = Counter(bigrams)
    if top_ngrams_fail(tokens, size, limits.top_ngrams, counts if min(n for n, _ in limits.top_ngrams) == 2 else None):
        return REASON
    if not limits.dup_ngrams or not repeats_a_run(bigrams, counts, min(n for n, _ in limits.dup_ngrams) - 1):
        return None  # no n-gram of the 5-10 checks repeats (the usual case, decided in C)
    if repeat_cover(tokens, limits.dup_ngrams) / size <= min(f for _, f in limits.dup_ngrams):
        return None
    for n, frac in limits.dup_ngrams:
        if repeated_ngram_chars(tokens, n) / size > frac:
            return REASON
    return None
