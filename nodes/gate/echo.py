"""Rule `prompt_echo`: the text repeats a long verbatim span of a prompt template's own fixed wording.

Only the templates' fixed text counts (split at their <<slots>>, so slot values such as the user's question
never do), and any span also found in the query is exempt (an answer may quote the question). A span is
`SPAN_WORDS` = 10 consecutive words (the 8-13 range of n-gram decontamination tools, at its cautious end):
an echoed instruction such as "Read the question, your earlier answer and your reflection carefully" is
caught, while shorter runs of plain clinical wording the evaluator prompts share with real advice are not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from nodes.gate.text import Gram, grams, words
from prompts.loader import SLOT, load_prompt

REASON = "prompt_echo"
SPAN_WORDS = 10
# The templates whose text reaches a model that writes a record's query, reasoning or answer.
TEMPLATES = ("query_generation", "eval_decision", "eval_communication", "eval_safety", "refine_directref")


@dataclass(frozen=True)
class EchoIndex:
    """The set of `span`-word runs of the templates' fixed text."""

    spans: frozenset[Gram]
    span: int = SPAN_WORDS
    vocabulary: frozenset[str] = field(init=False, repr=False)  # every word of the spans

    def __post_init__(self) -> None:
        object.__setattr__(self, "vocabulary", frozenset(word for gram in self.spans for word in gram))

    @classmethod
    def from_texts(cls, texts: Iterable[str], span: int = SPAN_WORDS) -> EchoIndex:
        found: set[Gram] = set()
        for text in texts:
            for fixed in SLOT.split(text)[::2]:  # split() keeps slot names at odd positions
                found.update(grams(words(fixed), span))
        return cls(frozenset(found), span)

    def echoes(self, text: str, query: str = "") -> bool:
        """True when `text` holds a template span that `query` does not."""
        tokens = words(text)
        if b"\x01" * self.span not in bytes(map(self.vocabulary.__contains__, tokens)):
            return False  # the usual case: no run of `span` template words, found in C with no tuple built
        hits = self.spans.intersection(grams(tokens, self.span))
        return bool(hits.difference(grams(words(query), self.span)))


@lru_cache(maxsize=8)
def template_index(prompts_dir: Path | None = None, prompt_set: str = "paper", span: int = SPAN_WORDS) -> EchoIndex:
    """The index of the templates a run uses (its prompt set's, a `prompts_dir` file replacing one)."""
    return EchoIndex.from_texts((load_prompt(name, prompts_dir, prompt_set).text for name in TEMPLATES), span)


def prompt_echo(index: EchoIndex, query: str, *texts: str) -> str | None:
    """`prompt_echo` when any of `texts` (the reasoning, the answer) echoes a template, else None."""
    return REASON if any(index.echoes(text, query) for text in texts) else None
