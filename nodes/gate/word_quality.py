"""Rule `word_quality`: the text's words are words of its language, not glued runs or made-up strings.

A small model's bounded decoding can finish an answer whose words are glued ("withcoughing",
"alifethreateningconditionandpointout") or invented ("alrightayeyeetahxd"). Counted by whitespace they pass
the 50-word rule, and they neither repeat nor echo a template. This rule reads each word against the word
list of the text's language (nodes/gate/vocabulary.py) and drops a text when

- more than `max_unknown_letters` of its letters lie in words its language does not have (invented words,
  and glued ones: every glued word is unknown, and carries all the letters of the words it swallowed), or
- it holds an unknown word of more than `max_word_letters` letters (one glued sentence is enough).

Numbers and codes are judged by their runs of letters ("10mg": "mg"), and words in scripts written without
spaces (Chinese, Japanese, Thai) not at all; a text whose words hold fewer than `MIN_LETTERS` characters is
not judged. The thresholds come from bench/word_quality.py on HealthBench's own clean texts and the same texts
damaged (BENCHMARKS.md). Gopher's other quality checks were measured there too: its mean word length (3-10)
and share of words with a letter (80%) would add 0.15-0.6 points of catch for 0.75 points more false drops
(1.05% in all), and its two English function words drop 16% of clean texts (every one not in English).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import chain

from nodes.gate.text import words
from nodes.gate.vocabulary import ENGLISH, guess, known, spaced

REASON = "word_quality"
MIN_LETTERS = 20  # a text whose words hold fewer characters is too short to judge
LETTERS = re.compile(r"[^\W\d_]+")  # runs of letters
# Words added to a language's list because their runs of letters are in it (numbers, "10mg", "it’s"), counted
# per language and bounded, since numbers and codes never end.
ADDED: dict[str, int] = {}
MAX_ADDED = 200_000


@dataclass(frozen=True)
class WordLimits:
    """The run config's `max_unknown_letters` and `max_word_letters` (1.0 and 0 turn each check off)."""

    max_unknown_letters: float = 0.2
    max_word_letters: int = 30

    @property
    def off(self) -> bool:
        return self.max_unknown_letters >= 1 and self.max_word_letters <= 0


@dataclass(frozen=True)
class Reading:
    """One text read against its language's list: its language, the characters of its words, those in words
    with a run of letters the list lacks, and the longest such run (all 0 when the list holds every word)."""

    lang: str
    letters: int
    unknown: int
    longest: int

    @property
    def unknown_share(self) -> float:
        return self.unknown / self.letters if self.letters else 0.0


def unknown_run(word: str, vocabulary: set[str]) -> int:
    """The longest run of letters in `word` that `vocabulary` lacks; 0 when every run is known ("500", "don't",
    "it’s" and "10mg" are judged by their runs of letters)."""
    if word.isalpha():
        return 0 if word in vocabulary else len(word)
    return max((len(run) for run in LETTERS.findall(word) if run not in vocabulary), default=0)


def read(tokens: list[str], lang: str) -> Reading:
    """Decided in C when the list holds every word (in clean text, all but a few rare words)."""
    vocabulary = known(lang)
    if vocabulary.issuperset(tokens):
        return Reading(lang, 0, 0, 0)  # nothing unknown: nothing to count (the usual case)
    bad = {}
    for word in set(tokens).difference(vocabulary):
        run = unknown_run(word, vocabulary)
        if run:
            bad[word] = run
        elif ADDED.get(lang, 0) < MAX_ADDED:
            vocabulary.add(word)  # known by its runs of letters: the next text's is decided in C
            ADDED[lang] = ADDED.get(lang, 0) + 1
    if not bad:
        return Reading(lang, 0, 0, 0)
    return Reading(lang, sum(map(len, tokens)), sum(map(len, filter(bad.__contains__, tokens))), max(bad.values()))


def fails(reading: Reading, limits: WordLimits) -> bool:
    if reading.letters < MIN_LETTERS:
        return False
    too_many = limits.max_unknown_letters < 1 and reading.unknown_share > limits.max_unknown_letters
    return too_many or 0 < limits.max_word_letters < reading.longest


def reading(text: str, limits: WordLimits) -> Reading:
    """The text read in English, or in the language its words guess when English fails it."""
    tokens = words(text)  # the rules' words, cached: `repetition` read the answer's already
    english = read(tokens, ENGLISH)
    if not fails(english, limits):
        return english  # the usual case: one pass over the words against one set
    tokens = [word for word in tokens if spaced(word)]
    lang = guess(tokens)
    return read(tokens, lang)


def word_quality(texts: tuple[str, ...], limits: WordLimits) -> str | None:
    """`word_quality` when any of `texts` fails the limits, else None.

    The texts' words are first looked up together, in one pass: when English has them all, none can fail."""
    if limits.off:
        return None
    if known(ENGLISH).issuperset(chain.from_iterable(map(words, texts))):
        return None  # the usual case
    return REASON if any(text and fails(reading(text, limits), limits) for text in texts) else None
