"""Word lists for the `word_quality` rule: which words a language has, from the PyPI package wordfreq.

wordfreq's lists are built from large corpora (Wikipedia, subtitles, books, news, web text) and hold inflected
forms ("pueden", "manchas"), names of common drugs and most medical terms, for 42 languages: a text in any of
them can be judged against its own language. (pyspellchecker's lists were measured too: its Spanish and
Russian lists hold lemmas only, so 35-50% of the letters of clean Spanish answers were "unknown".)

Lists load lazily, once per process: English first (0.1 s, the usual case is decided by it alone), the other
languages only when a text is not English enough, found by the most frequent words of each language.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Any

ENGLISH = "en"
COMMON = 2_000  # the most frequent words of each language, enough to tell languages apart
# Scripts written without spaces between words: whitespace gives clauses, not words, so none is judged.
UNSPACED = re.compile(
    "[\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
)


def _wordfreq() -> Any:
    try:
        import wordfreq
    except ModuleNotFoundError:
        raise RuntimeError(
            "the word_quality gate needs the PyPI package wordfreq (pip install -e .); "
            "or turn the rule off with max_unknown_letters: 1 and max_word_letters: 0"
        ) from None
    return wordfreq


@cache
def known(lang: str) -> set[str]:
    """Every word of `lang` in wordfreq's largest list for it (case-folded, as the gate's words are).

    A set the `word_quality` rule adds to: words it has judged known by their runs of letters ("10mg").
    Read from the list's frequency bands (0.3 s for English; `get_frequency_dict` takes 0.7 s)."""
    wordfreq = _wordfreq()
    words: set[str] = set()
    for band in wordfreq.read_cBpack(wordfreq.available_languages(wordlist="best")[lang]):
        words.update(band)
    return words


@lru_cache(maxsize=1)
def common() -> dict[str, frozenset[str]]:
    """The `COMMON` most frequent words of each of wordfreq's languages (English too), to guess a language.

    Read from each small list's first frequency bands (0.3 s for all 42; `top_n_list` takes 2.6 s)."""
    wordfreq = _wordfreq()
    tops = {}
    for lang, path in sorted(wordfreq.available_languages(wordlist="small").items()):
        top: list[str] = []
        for band in wordfreq.read_cBpack(path):  # most frequent first
            top.extend(band)
            if len(top) >= COMMON:
                break
        tops[lang] = frozenset(top[:COMMON])
    return tops


def guess(words: list[str]) -> str:
    """The language whose most frequent words cover most of `words` (English on a tie or no hit)."""
    counts = {lang: sum(map(top.__contains__, words)) for lang, top in common().items()}
    return max(counts, key=lambda lang: (counts[lang], lang == ENGLISH))


def spaced(word: str) -> bool:
    """False for a run of a script written without spaces (Chinese, Japanese kana, Thai, ...)."""
    return UNSPACED.search(word) is None
