"""The gate: every per-record rule, in one order, and the one vocabulary of drop reasons.

The filter node judges each finished graph with `first_reason(record, settings)`; the dataset builder judges
every stored row again with the same rules and the run's own settings (its `min_answer_words`, its
templates for `prompt_echo`), so a record is kept or dropped for the same reason in the run, the report,
`graph.trace` and the data card. A rule is a small pure function: None to keep, or the reason to drop.

Reasons, in the order they are tried (the first failing rule names the drop):
- `parse_failed:<facet>`  a facet evaluator's output had no "We should …" line and no N/A
- `no_query`              the query is empty
- `no_answer`             the answer part is empty (only reasoning, or nothing)
- `refused`               the answer opens with a refusal
- `too_short`             fewer words than the run's `min_answer_words` (the paper's 50 by default)
- `think_tag_in_text`     a stray <think> tag would corrupt the trained `<think>…</think>` layout
- `truncated`             a call whose text went into the record stopped at its token limit
- `repetition`            the answer loops (Gopher repetition rules)
- `word_quality`          the reasoning or answer has glued or invented words (its language's word list)
- `prompt_echo`           the reasoning or answer repeats a 10-word span of a template the run used
The builder adds three across rows (`STORE_REASONS`) and `store:<reason>` for rows the run did not keep.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from nodes.gate.echo import EchoIndex, prompt_echo
from nodes.gate.repetition import repetition
from nodes.gate.truncation import truncated
from nodes.gate.word_quality import WordLimits, word_quality

REFUSAL = re.compile(
    r"^\W*(?:i'?m sorry,? but |sorry,? )?i\s+(?:can(?:no|')t|cannot|am (?:not able|unable)|won'?t)\s+"
    r"(?:help|assist|provide|answer|give)",
    re.IGNORECASE,
)
THINK_TAGS = ("<think>", "</think>")
DEFAULT_MIN_WORDS = 50  # the paper's rule; a run's `min_answer_words` replaces it


class Record(NamedTuple):
    """What a rule reads of one record: its texts, the LLM calls behind them and the evaluators' parse errors
    (a named tuple: the dataset builder makes one per row, and a tuple is the cheapest to make)."""

    query: str
    reasoning: str
    answer: str
    calls: Sequence[Mapping[str, Any]] = ()
    parse_errors: Sequence[tuple[str, str | None]] = ()  # (facet, error or None)


@dataclass(frozen=True)
class Settings:
    """The run's settings the rules judge by (the builder reads them from the store)."""

    echo: EchoIndex
    min_answer_words: int = DEFAULT_MIN_WORDS
    limits: Mapping[str, int] = field(default_factory=dict)  # max_tokens per call node, for rows without finish_reason
    words: WordLimits = field(default_factory=WordLimits)  # the run's max_unknown_letters and max_word_letters


Rule = Callable[[Record, Settings], str | None]


def parse_failed(r: Record, s: Settings) -> str | None:
    for facet, error in r.parse_errors:
        if error is not None:
            return f"parse_failed:{facet}"
    return None


def no_query(r: Record, s: Settings) -> str | None:
    return None if r.query.strip() else "no_query"


def no_answer(r: Record, s: Settings) -> str | None:
    return None if r.answer.strip() else "no_answer"


def refused(r: Record, s: Settings) -> str | None:
    return "refused" if REFUSAL.match(r.answer) else None


def too_short(r: Record, s: Settings) -> str | None:
    # Fewer than m words (count_words) exactly when splitting at most m times leaves fewer than m pieces: the
    # builder judges every row, and this stops at the m-th word instead of counting a long answer's all.
    least = s.min_answer_words
    return "too_short" if least > 0 and len(r.answer.split(None, least)) < least else None


def think_tag_in_text(r: Record, s: Settings) -> str | None:
    stray = any(tag in text for text in (r.reasoning, r.answer) for tag in THINK_TAGS)
    return "think_tag_in_text" if stray else None


def cut_off(r: Record, s: Settings) -> str | None:
    return truncated(r.calls, s.limits)


def loops(r: Record, s: Settings) -> str | None:
    return repetition(r.answer)  # the reasoning t' legitimately repeats "We should …" across rationales


def garbled(r: Record, s: Settings) -> str | None:
    return word_quality((r.reasoning, r.answer), s.words)


def echoes(r: Record, s: Settings) -> str | None:
    return prompt_echo(s.echo, r.query, r.reasoning, r.answer)


# The builder's workers judge the text rules; `truncated` reads the stored calls, which stay in the builder.
BEFORE_CALLS: tuple[Rule, ...] = (parse_failed, no_query, no_answer, refused, too_short, think_tag_in_text)
CALLS: tuple[Rule, ...] = (cut_off,)
AFTER_CALLS: tuple[Rule, ...] = (loops, garbled, echoes)
RULES = BEFORE_CALLS + CALLS + AFTER_CALLS
REASONS = ("parse_failed", "no_query", "no_answer", "refused", "too_short", "think_tag_in_text", "truncated",
           "repetition", "word_quality", "prompt_echo")
STORE_REASONS = ("duplicate", "benchmark_overlap", "near_duplicate")  # the builder's, across rows


def first_reason(record: Record, settings: Settings, rules: Sequence[Rule] = RULES) -> str | None:
    """The reason of the first of `rules` that drops the record, or None to keep it."""
    for rule in rules:
        reason = rule(record, settings)
        if reason is not None:
            return reason
    return None
