"""Query generation (paper §3.1, Figure 9): one attribute combination in, one natural user query out.

The generator's raw text is post-processed by the pure `clean_query`; output that is not a single
query (empty, a list of alternatives, far too long, cut off) raises `QueryGenError` so the caller
counts a failure instead of storing something that only looks like a query.
"""

from __future__ import annotations

import re
from pathlib import Path

from nodes.llm.client import ChatClient, Completion
from nodes.parsing import split_reasoning
from prompts.loader import load_prompt
from state.attributes import Attributes
from state.config import RunConfig

PROMPT_NAME = "query_generation"
_NOUN = r"(?:query|question|message|prompt|request)"
# "Query:", "**User query:**", "Sure! Here's a realistic query from a patient:" at the very start.
PREFIX = re.compile(
    rf"^(?:[*_#>]+\s*)?(?:(?:sure|okay|ok|certainly|of course|alright)\b[,.!]?\s*)?"
    rf"(?:(?:here(?:'s|’s| is)\s+(?:a|an|the|my|one|your)\b[^:\n]{{0,60}}?\b{_NOUN}\b[^:\n]{{0,60}}?)"
    rf"|(?:(?:the\s+|a\s+)?(?:final\s+|generated\s+|sample\s+|(?:user|patient|doctor|caregiver)(?:'s|’s)?\s+)?{_NOUN}))"
    rf"\s*[*_]*\s*[:：]\s*[*_]*\s*",
    re.IGNORECASE,
)
# A line that only introduces what follows ("Here is the query:"); it and everything above it go.
LEAD_IN_LINE = re.compile(
    rf"^(?:[*_#>]+\s*)?(?=(?:sure|okay|ok|certainly|of course|alright|here|below|this is|the following|final"
    rf"|generated|user|patient|doctor|caregiver|{_NOUN})\b)(?=.{{0,160}}\b{_NOUN}\b).{{0,200}}[:：]\s*[*_]*\s*$",
    re.IGNORECASE,
)
# Reasoning about the task itself ("Okay, I need to write a query as a caregiver ...").
TASK_TALK = re.compile(
    r"^(?:okay|ok|alright|so|hmm|let me|let's|i need to|i will|i'll|i should|first)\b.*"
    r"\b(?:query|constraints?|the user|the prompt|instructions?)\b",
    re.IGNORECASE,
)
# Commentary after the query ("Note: ...", "(This query reflects ...)", "---").
TRAILER = re.compile(
    r"^(?:[*_(\[]+\s*)?(?:notes?|explanation|rationale|constraints?|this (?:query|message)|the (?:query|message) above"
    r"|i hope this helps|let me know)\b|^-{3,}\s*$",
    re.IGNORECASE,
)
QUOTED_THEN_NOTE = re.compile(
    r'^["“]([^"“”]+)["”]\s+\(?(?:note\b|this (?:query|message)\b).*$', re.DOTALL | re.IGNORECASE
)
EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(.+)\1", re.DOTALL)
BULLET = re.compile(r"^(?:[-*•·]|\d{1,2}[.)])\s+")
NUMBERED_ALTERNATIVE = re.compile(
    rf"^[*_]*(?:{_NOUN}|option|version|example|variant)\s*#?\d+\b", re.IGNORECASE
)
PAIRS = {'"': '"', "“": "”", "'": "'", "‘": "’", "«": "»"}


class QueryGenError(ValueError):
    """Generator output that is not one usable query. reason: empty | list | too_long | truncated."""

    def __init__(self, reason: str, message: str, raw: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.raw = raw


def _wraps_whole(text: str) -> bool:
    """Whether text's first and last characters quote one span, not `"a" or "b"`."""
    opening, closing, inner = text[0], text[-1], text[1:-1]
    if opening in "'‘":
        return True  # apostrophes make counting single quotes meaningless
    if opening != closing:
        depth = 0
        for ch in inner:
            depth += (ch == opening) - (ch == closing)
            if depth < 0:
                return False
        return True
    k = inner.find(opening)
    return k <= 0 or inner[k - 1].isspace() or inner[k - 1] in "([{"


def _unwrap(text: str) -> str:
    """Strip surrounding quotes, code fences and markdown emphasis, repeatedly."""
    while True:
        text = text.strip()
        if len(text) >= 6 and text.startswith("```") and text.endswith("```"):
            text = re.sub(r"^```[\w-]*", "", text[:-3])
            continue
        emphasis = EMPHASIS.fullmatch(text)
        if emphasis and emphasis.group(1) not in emphasis.group(2):
            text = emphasis.group(2)
            continue
        if _is_quoted(text):
            text = text[1:-1]
            continue
        return text


def _is_quoted(line: str) -> bool:
    return len(line) >= 2 and PAIRS.get(line[0]) == line[-1] and _wraps_whole(line)


def _quoted_block(lines: list[str]) -> list[str]:
    """Only the leading quoted lines when remarks about the quoted query follow them."""
    if len(lines) > 1 and lines[0][:1] in PAIRS:
        for k in range(len(lines) - 1):
            if _is_quoted("\n".join(lines[: k + 1])):
                return lines[: k + 1]
    return lines


def _drop_lead_in(lines: list[str]) -> list[str]:
    """Drop reasoning and a 'Here is the query:' line above the query, keeping at least one line."""
    cut = 0
    for k, line in enumerate(lines[:-1]):
        if LEAD_IN_LINE.match(line) and not BULLET.match(line):
            cut = k + 1
    lines = lines[cut:]
    while len(lines) > 1 and TASK_TALK.match(lines[0]):
        lines = lines[1:]
    return lines


def _drop_trailer(lines: list[str]) -> list[str]:
    for k, line in enumerate(lines[1:], start=1):
        if TRAILER.match(line):
            return lines[:k]
    return lines


def _list_shaped(lines: list[str]) -> bool:
    """Several alternatives rather than one query: numbered 'Query 1/2' lines, or several bulleted questions."""
    if sum(1 for ln in lines if NUMBERED_ALTERNATIVE.match(ln)) >= 2:
        return True
    items = [ln for ln in lines if BULLET.match(ln)]
    if len(items) < 2:
        return False
    return len(items) == len(lines) or sum(1 for ln in items if ln.rstrip("*_ ").endswith("?")) >= 2


def clean_query(text: str, max_chars: int = 2000) -> str:
    """The single query in a generator's output, without reasoning, labels, quotes or commentary.

    Raises QueryGenError (reason empty | list | too_long) when no single usable query is left.
    """
    _, body = split_reasoning(text)
    body = _unwrap(body)
    noted = QUOTED_THEN_NOTE.match(body)
    if noted:
        body = noted.group(1)
    lines = [" ".join(line.split()) for line in body.splitlines()]
    lines = _drop_trailer(_drop_lead_in([ln for ln in lines if ln]))
    if lines:
        lines[0] = PREFIX.sub("", lines[0], count=1)
        lines = _quoted_block(lines)
    query = _unwrap("\n".join(ln for ln in lines if ln))
    if not query or not any(ch.isalnum() for ch in query):
        raise QueryGenError("empty", "the generator returned no query text", raw=text)
    if _list_shaped(query.splitlines()):
        raise QueryGenError("list", "the generator returned a list of queries, not one", raw=text)
    if len(query) > max_chars:
        raise QueryGenError(
            "too_long", f"the query is {len(query)} characters, over the {max_chars} limit", raw=text
        )
    return query


def render_query_prompt(attrs: Attributes, prompts_dir: Path | None = None, prompt_set: str = "paper") -> str:
    """The generator prompt for `attrs` (the packaged template of `prompt_set`, or the one in `prompts_dir`)."""
    return load_prompt(PROMPT_NAME, prompts_dir, prompt_set).render(
        role=attrs.role,
        country=attrs.country,
        setting=attrs.setting,
        disease=attrs.disease,
        intent=attrs.intent,
        intent_description=attrs.intent_description,
        vagueness=attrs.vagueness,
        completeness=attrs.completeness,
        style=attrs.style,
    )


async def generate_query(client: ChatClient, attrs: Attributes, config: RunConfig) -> tuple[str, Completion]:
    """One generator call for `attrs` → (clean query, completion). LLMError and QueryGenError propagate.

    Reasoning the server returns separately is ignored; a reply cut off by max_tokens is rejected as
    `truncated`, since half a query is not a query.
    """
    prompt = render_query_prompt(attrs, config.prompts_dir, config.prompt_set)
    completion = await client.chat([{"role": "user", "content": prompt}], config.sampling_for("query"))
    if completion.finish_reason == "length":
        raise QueryGenError(
            "truncated", "the generator hit max_tokens before finishing the query", raw=completion.text
        )
    return clean_query(completion.text), completion
