"""Number formatting shared by the terminal and HTML renderings."""

from __future__ import annotations

import shlex
from typing import Any


def fmt_int(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def fmt_num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() and digits <= 1 else f"{value:,.{digits}f}"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def rate_cell(cell: dict[str, Any]) -> str:
    """'40.0% [11.8–76.9] n=5': a Wilson cell as one string; '– n=0' when nothing was counted."""
    if cell.get("rate") is None:
        return f"– n={cell.get('n', 0)}"
    return f"{pct(cell['rate'])} [{100 * cell['low']:.1f}–{100 * cell['high']:.1f}] n={cell['n']:,}"


def trace_command(db: str, item_id: int) -> str:
    """The shell command that shows one stored result."""
    return f"python -m graph.trace --db {shlex.quote(db)} --id {item_id}"
