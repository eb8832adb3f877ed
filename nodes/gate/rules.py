"""One entry point for the per-record gate: truncated, then repetition, then prompt_echo."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nodes.gate.echo import EchoIndex, prompt_echo
from nodes.gate.repetition import repetition
from nodes.gate.truncation import truncated

REASONS = ("truncated", "repetition", "prompt_echo")


def gate_reason(
    query: str,
    reasoning: str,
    answer: str,
    calls: Iterable[Mapping[str, Any]],
    echo: EchoIndex,
    limits: Mapping[str, int] | None = None,
) -> str | None:
    """Why the record (q, reasoning, answer) fails the gate, or None to keep it.

    `calls` are the LLM calls whose text went into the record (their stored usage entries); repetition is
    checked on the answer only (the reasoning t' legitimately repeats "We should …" across rationales).
    """
    return truncated(calls, limits) or text_reason(query, reasoning, answer, echo)


def text_reason(query: str, reasoning: str, answer: str, echo: EchoIndex) -> str | None:
    """The rules decided by the record's text alone (repetition, then prompt_echo): what the dataset builder's
    workers judge, `truncated` being decided beside the stored calls."""
    return repetition(answer) or prompt_echo(echo, query, reasoning, answer)
