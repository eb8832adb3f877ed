"""Pure parsers for model output: reasoning/answer split and facet rationales."""

from __future__ import annotations

import re

THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
BULLET = re.compile(r"^\s*(?:[-*•·‣▪–]+|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)](?=\s))\s*")
NA_LINE = re.compile(
    r"^(?:(?:n\s*/?\s*a|not applicable|none|no (?:further |additional )?(?:questions?|rationales?|changes?|adjustments?)"
    r"(?: (?:are |is )?(?:needed|required))?)\W*"
    r"|n\s*/\s*a\s*[.:;,–—-].*)$",  # "N/A: nothing is missing" — an N/A with its explanation
    re.IGNORECASE,
)
EMPHASIS = re.compile(r"\*\*|__")
WE_SHOULD = re.compile(r"^we\s+(?:should|need to|must)\b", re.IGNORECASE)


def split_reasoning(text: str, reasoning: str | None = None) -> tuple[str, str]:
    """(reasoning, answer): the server's reasoning field when given, else a <think> block, else ("", text).

    An unclosed <think> (generation cut off while reasoning) yields all of it as reasoning and no answer;
    a stray </think> with no opening tag (templates that pre-fill <think>) splits at the closing tag.
    """
    if reasoning is not None and reasoning.strip():
        return reasoning.strip(), THINK_BLOCK.sub("", text).strip()
    match = THINK_BLOCK.search(text)
    if match:
        answer = (text[: match.start()] + text[match.end():]).strip()
        return match.group(1).strip(), THINK_BLOCK.sub("", answer).strip()
    opened = THINK_OPEN.search(text)
    if opened:
        return text[opened.end():].strip(), text[: opened.start()].strip()
    closed = THINK_CLOSE.search(text)
    if closed:
        return text[: closed.start()].strip(), text[closed.end():].strip()
    return "", text.strip()


def _clean_line(line: str) -> str:
    line = BULLET.sub("", line.strip())
    line = EMPHASIS.sub("", line).strip().strip("*_`").strip()
    if len(line) >= 2 and line[0] in "\"'“" and line[-1] in "\"'”":
        line = line[1:-1].strip()
    return line


def parse_rationales(text: str) -> tuple[list[str], str | None]:
    """Facet evaluator output → (rationales, parse_error).

    Lines starting "We should" (after bullets, numbering, quotes and markdown are stripped) are
    rationales; an N/A line with no rationale means nothing to add (empty list). Reasoning blocks and
    other stray lines are ignored. Output with neither is a parse error.
    """
    _, body = split_reasoning(text)
    rationales: list[str] = []
    saw_na = False
    for raw_line in body.splitlines():
        line = _clean_line(raw_line)
        if not line:
            continue
        if WE_SHOULD.match(line):
            if line not in rationales:
                rationales.append(line)
        elif NA_LINE.match(line):
            saw_na = True
    if rationales or saw_na:
        return rationales, None
    if not body.strip():
        return [], "empty evaluator output"
    return [], "no 'We should …' line and no N/A"
