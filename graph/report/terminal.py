"""The report in the terminal (rich tables); with --compare the two runs' tables side by side, or one
under the other (labelled A and B, with a legend) when side by side would not fit the terminal.

Every stored string is wrapped in Text, so model output such as "[/]" is printed literally; cells wrap
(fold) rather than end in "…", so nothing is cut at 80 columns.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from graph.report.tables import SECTIONS, Section, Trace
from graph.report.text import trace_command


def render(section: Section, label: str = "") -> RenderableType:
    title = f"{section.title} — {label}" if label else section.title
    table = Table(title=Text(title, style="bold"), title_justify="left", header_style="bold cyan")
    for i, col in enumerate(section.header):
        table.add_column(Text(col), justify="left" if i == 0 else "right", overflow="fold")
    for row in section.rows:
        table.add_row(*(Text(f"id {c.id}" if isinstance(c, Trace) else c) for c in row))
    if not section.note:
        return table
    return Group(table, Text(section.note, style="dim"))


def print_report(console: Console, reports: list[dict[str, Any]]) -> None:
    """Every section; with two reports each section's tables sit side by side."""
    console.print(Text(f"Run report: {reports[0]['db']}" + "".join(f"  vs  {r['db']}" for r in reports[1:]),
                       style="bold"), soft_wrap=True)
    labels = [chr(ord("A") + i) for i in range(len(reports))]
    if len(reports) > 1:
        console.print(Text("  ".join(f"{k} = {r['db']}" for k, r in zip(labels, reports, strict=True)), style="dim"),
                      soft_wrap=True)
    for make in SECTIONS:
        if len(reports) == 1:
            console.print(render(make(reports[0])))
        else:
            tables = [render(make(r), k) for k, r in zip(labels, reports, strict=True)]
            grid = Table.grid(padding=(0, 3))
            for _ in reports:
                grid.add_column(no_wrap=True)
            grid.add_row(*tables)
            wide = console.options.update(width=100_000)
            natural = sum(Measurement.get(console, wide, t).maximum for t in tables) + 3 * (len(tables) - 1)
            if natural <= console.width:
                console.print(grid)
            else:
                for table in tables:
                    console.print(table)
        console.print()
    first = next((c.id for make in SECTIONS for row in make(reports[0]).rows for c in row if isinstance(c, Trace)), None)
    if first is not None:
        console.print(Text(f"Look at an example: {trace_command(reports[0]['db'], first)}", style="dim"), soft_wrap=True)
