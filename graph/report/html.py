"""report.html: one self-contained page (inline CSS, plots as base64 PNG, no network resource; a
Content-Security-Policy forbids any). Example ids show their graph.trace command with a copy button."""

from __future__ import annotations

import base64
import hashlib
import html
from pathlib import Path
from typing import Any

from graph.report import examples_html
from graph.report.tables import SECTIONS, Section, Trace
from graph.report.text import trace_command

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1500px}
h1{font-size:20px}h2{font-size:16px;margin:28px 0 8px}
table{border-collapse:collapse;margin:4px 0 8px}th,td{padding:3px 8px;border-bottom:1px solid #e4e4e4;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f4f6f8}
.row{display:flex;gap:32px;align-items:flex-start;flex-wrap:wrap}.col{min-width:0}
.note{color:#666;font-size:12px}code{font-size:12px;background:#f4f4f4;padding:1px 4px}
button.copy{font-size:11px;margin-left:4px}td.trace{white-space:nowrap}
.plots{display:flex;flex-wrap:wrap;gap:8px}img.plot{display:block;max-width:100%;margin:6px 0}
"""
SCRIPT = """
document.querySelectorAll('button.copy').forEach(function (b) {
  b.addEventListener('click', function () {
    var text = b.previousElementSibling.textContent;
    if (navigator.clipboard) { navigator.clipboard.writeText(text).then(function () { b.textContent = 'copied'; },
      function () { b.textContent = 'select and copy'; }); }
  });
});
"""


def csp(script: str) -> str:
    """No resource from anywhere; the one inline script is allowed by its SHA-256 hash."""
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _cell(cell: str | Trace, db: str) -> str:
    if isinstance(cell, Trace):
        return (f'<td class="trace"><code>{_e(trace_command(db, cell.id))}</code>'
                f'<button class="copy" type="button">copy</button></td>')
    return f"<td>{_e(cell)}</td>"


def table(section: Section, db: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in section.header)
    body = "".join("<tr>" + "".join(_cell(c, db) for c in row) + "</tr>" for row in section.rows)
    note = f'<p class="note">{_e(section.note)}</p>' if section.note else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def image(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img class="plot" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def page(reports: list[dict[str, Any]], plots: list[dict[str, Path]]) -> str:
    """The whole page: every section, one column per report, plots under their section."""
    parts = [f"<h1>MuSeR run report: {' vs '.join(_e(r['db']) for r in reports)}</h1>", _run_line(reports)]
    for make in SECTIONS:
        sections = [make(r) for r in reports]
        parts.append(f"<h2>{_e(sections[0].title)}</h2>")
        cols = []
        for i, (report, section) in enumerate(zip(reports, sections, strict=True)):
            label = f'<p class="note">{_e(report["db"])}</p>' if len(reports) > 1 else ""
            pics = "".join(image(p, name) for name, p in _plots_for(make.__name__, plots[i]))
            pics = f'<div class="plots">{pics}</div>' if pics else ""
            cols.append(f'<div class="col">{label}{table(section, report["db"])}{pics}</div>')
        parts.append(f'<div class="row">{"".join(cols)}</div>')
    if not any(plots):
        parts.append('<p class="note">Plots were not drawn (matplotlib missing or --no-plots).</p>')
    parts += [examples_html.section(r["examples"], r["db"] if len(reports) > 1 else "") for r in reports if "examples" in r]
    script = SCRIPT + examples_html.SCRIPT
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{csp(script)}">'
            f"<title>MuSeR run report</title><style>{STYLE}{examples_html.STYLE}</style></head><body>{''.join(parts)}"
            f"<script>{script}</script></body></html>")


def _run_line(reports: list[dict[str, Any]]) -> str:
    items = []
    for r in reports:
        run = r["run"]
        facts = {"refiner": run.get("refiner"), "facets": ", ".join(run.get("facets") or []) or None,
                 "model": run.get("model"), "seed": run.get("seed"), "n": run.get("n"), "shard": run.get("shard"),
                 "created": run.get("created")}
        items.append(f"{_e(r['db'])}: " + ", ".join(f"{k} {_e(v)}" for k, v in facts.items() if v is not None))
    return f'<p class="note">{"<br>".join(items)}</p>'


def _plots_for(section: str, plots: dict[str, Path]) -> list[tuple[str, Path]]:
    prefix = {"context": "context_", "refinement": "lengths"}.get(section)
    return [(name, path) for name, path in plots.items() if prefix and name.startswith(prefix)]
