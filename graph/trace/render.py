"""Rich renderables for one query's refinement trace. Model text is never parsed as markup."""

from __future__ import annotations

import difflib
import re
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

# C0/C1 controls (ANSI escapes) and the bidirectional controls that reorder what a terminal shows (U+202E …)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Laying out a huge answer takes rich minutes; a panel shows this much of one text (--json shows all).
MAX_SHOWN_CHARS = 20_000


def cap(text: str, limit: int = MAX_SHOWN_CHARS) -> tuple[str, int]:
    """(the first `limit` characters, how many were cut)."""
    return (text, 0) if len(text) <= limit else (text[:limit], len(text) - limit)


def safe(text: str | None, style: str = "") -> Text:
    """Model text as a literal Text: markup like [/] stays text, control and bidi characters are shown escaped;
    past MAX_SHOWN_CHARS the rest is replaced by a note."""
    shown, cut = cap(text or "")
    out = Text(CONTROL.sub(_escaped, shown), style=style)
    if cut:
        out.append(f" … [{cut:,} more characters not shown; --json prints everything]", style="bold yellow")
    return out


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def word_diff(before: str, after: str) -> Text:
    """Word-level diff of r0 → r': removed words red and struck through, added words green."""
    a, b = cap(before)[0].split(), cap(after)[0].split()
    out = Text()
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append_text(safe(" ".join(a[i1:i2]) + " "))
            continue
        if op in ("delete", "replace"):
            out.append_text(safe(" ".join(a[i1:i2]) + " ", "red strike"))
        if op in ("insert", "replace"):
            out.append_text(safe(" ".join(b[j1:j2]) + " ", "bold green"))
    return out


def _panel(title: str, body: RenderableType, style: str = "cyan") -> Panel:
    return Panel(body, title=Text(title, style=f"bold {style}"), title_align="left", border_style=style)


def calls_table(calls: list[dict[str, Any]]) -> Table:
    table = Table(title="LLM calls", show_edge=False)
    for col, justify in (("node", "left"), ("latency ms", "right"), ("prompt tok", "right"),
                         ("completion tok", "right"), ("attempts", "right"), ("endpoint", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for c in calls:
        table.add_row(safe(c["node"]), f"{c['latency_ms']:.0f}", str(c["prompt_tokens"]),
                      str(c["completion_tokens"]), str(c["attempts"]), safe(c["endpoint"]))
    return table


def node_update(node: str, update: dict[str, Any]) -> RenderableType | None:
    """The panel for one node's state update, as it streams in (None for nodes with nothing to show)."""
    if node == "generate":
        gen = update["generation"]
        parts: list[RenderableType] = []
        if gen["reasoning"]:
            parts += [Text("reasoning t0", style="bold"), safe(gen["reasoning"], "dim")]
        parts += [Text("answer r0", style="bold"), safe(gen["answer"])]
        return _panel("generate", Group(*parts))
    if node.startswith("eval_"):
        verdict = update["verdicts"][0]
        if verdict["parse_error"]:
            body: RenderableType = Group(safe(f"unparseable: {verdict['parse_error']}", "red"), safe(verdict["raw"], "dim"))
        elif not verdict["rationales"]:
            body = Text("N/A: nothing to add", style="green")
        else:
            body = Group(*[safe(f"• {r}") for r in verdict["rationales"]])
        return _panel(node, body, "magenta")
    if node == "merge":
        body = safe(update["merged_reasoning"] or "(empty)")
        if "refinement" in update:
            body = Group(body, Text("every facet said N/A: refiner skipped, r' = r0", style="yellow"))
        return _panel("merge: refined reasoning t'", body, "blue")
    if node.startswith("refine_"):
        return _panel(f"{node}: refined answer r'", safe(update["refinement"]["answer"]), "green")
    if node == "filter":
        v = update["verdict"]
        text = f"kept ({v['words']} words)" if v["kept"] else f"dropped: {v['reason']} ({v['words']} words)"
        return _panel("filter", Text(text, style="bold green" if v["kept"] else "bold red"), "white")
    return None


def summary(state: dict[str, Any]) -> RenderableType:
    """After the run: the r0 → r' diff and the call table."""
    parts: list[RenderableType] = []
    refinement, generation = state.get("refinement"), state.get("generation")
    if refinement and generation:
        if refinement["refined"]:
            parts.append(_panel("r0 → r' (word diff)", word_diff(generation["answer"], refinement["answer"]), "yellow"))
        else:
            parts.append(_panel("r0 → r'", Text("unchanged (refiner skipped)", style="yellow"), "yellow"))
    if state.get("calls"):
        parts.append(calls_table(state["calls"]))
    return Group(*parts)


def header(query: str, attributes: dict[str, Any] | None) -> RenderableType:
    body: list[RenderableType] = []
    if attributes:
        table = Table.grid(padding=(0, 2))
        for key, value in attributes.items():
            table.add_row(Text(key, style="bold"), safe(str(value)))
        body.append(table)
    body.append(safe(query, "bold"))
    return _panel("query", Group(*body), "cyan")
