"""Regular grammars that bound what a small model may write (vLLM's `structured_outputs: {regex: …}`).

A 135M model rambles to any token cap and loops, and every call that stops at its cap makes its record
`truncated`. These grammars give each node's output a shape that ends on its own, well inside its budget:

- an answer (generate, refine): 5 to 7 whole sentences of 10 to 25 words;
- a facet evaluation: 1 to 3 lines "We should …" of 5 to 14 words, continuing the "We should" pre-fill;
- a query: up to 3 statements, then one question, each a whole sentence of 4 to 20 words (at 30 words,
  1 query in 20 ran past 256 tokens).

A word is letters (up to 18 characters), or a number of up to 4 digits, optionally with % or joined by a
hyphen to another number or word ("2-3", "3-year-old"). Without the letter bound a model held to a word
count glues words together ("alifethreateningcondition…") and runs on; without the digit bound it writes
dates and ids ("2020-08-15, 2020-08-15, …"), one token per digit, and a query of 4 sentences overran 256
tokens. Sentences end in . ! or ?, so a text that matches never stops mid-sentence.
"""

from __future__ import annotations

WORD_CHARS = 18
NUMBER_DIGITS = 4
LETTERS = rf"[A-Za-z][A-Za-z'/-]{{0,{WORD_CHARS - 1}}}"
NUMBER = rf"[0-9]{{1,{NUMBER_DIGITS}}}%?"
WORD = f"({LETTERS}|{NUMBER}(-({NUMBER}|{LETTERS}))?)"
FIRST_WORD = rf"[A-Z][A-Za-z'/-]{{0,{WORD_CHARS - 1}}}"
GAP = r"[,;:]? "  # between two words: a space, optionally after a comma, semicolon or colon


def sentence(min_words: int, max_words: int, end: str = "[.!?]") -> str:
    """One sentence: a capitalised word, then `min_words - 1` to `max_words - 1` more, then `end`."""
    return f"{FIRST_WORD}({GAP}{WORD}){{{min_words - 1},{max_words - 1}}}{end}"


def sentences(count: tuple[int, int], words: tuple[int, int]) -> str:
    """`count` sentences (min, max) of `words` words each (min, max), one space apart."""
    one = sentence(*words)
    return f"{one}( {one}){{{count[0] - 1},{count[1] - 1}}}"


def rationale_lines(count: tuple[int, int], words: tuple[int, int], prefill: str = "We should") -> str:
    """`count` lines "We should …" of `words` words in all, the first line's `prefill` already written.

    The grammar constrains only what the model adds after the pre-filled words, so it starts mid-line."""
    lead = len(prefill.split())
    rest = f"({GAP}{WORD}){{{words[0] - lead},{words[1] - lead}}}[.]"
    return rf"{rest}(\n{prefill}{rest}){{{count[0] - 1},{count[1] - 1}}}"


ANSWER = sentences((5, 7), (10, 25))
RATIONALES = rationale_lines((1, 3), (5, 14))
QUESTION = f"({sentence(4, 20, '[.!]')} ){{0,3}}{sentence(4, 20, '[?]')}"
