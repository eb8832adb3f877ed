"""report.html of eval.healthbench: every graded example (conversation, response, each rubric item with its
points, met or unmet and the grader's explanation, the example's score), worst first, filterable by theme
and axis. One self-contained page: everything model- or data-written is escaped, the one inline script is
allowed by its hash in the CSP, nothing is fetched.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eval.batch.runner import slot_key
from eval.data.examples import Example
from eval.grading.scoring import score_items

SCRIPT = """
var selects = document.querySelectorAll('select.f'), cards = document.querySelectorAll('details.ex');
function apply() {
  var theme = document.querySelector('select[name=theme]').value, axis = document.querySelector('select[name=axis]').value, n = 0;
  cards.forEach(function (c) {
    var ok = (!theme || ('|' + c.dataset.themes + '|').indexOf('|' + theme + '|') >= 0) &&
             (!axis || ('|' + c.dataset.axes + '|').indexOf('|' + axis + '|') >= 0);
    c.hidden = !ok;
    if (ok) { n += 1; }
    c.querySelectorAll('tr.item').forEach(function (r) { r.hidden = !!axis && r.dataset.axis !== axis; });
  });
  document.getElementById('shown').textContent = n + ' of ' + cards.length + ' examples shown';
}
selects.forEach(function (s) { s.addEventListener('change', apply); });
apply();
"""
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1300px}h1{font-size:20px}
.note{color:#666;font-size:12px}.filters{display:flex;gap:14px;margin:8px 0 12px}
details.ex{border:1px solid #ddd;border-radius:4px;margin:6px 0;padding:4px 10px}summary{cursor:pointer}
pre{white-space:pre-wrap;font:13px/1.4 system-ui,sans-serif;margin:2px 0 8px}.turn{margin:4px 0}
table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 8px;border-bottom:1px solid #e4e4e4;vertical-align:top;text-align:left}
td.pts{text-align:right}.met{color:#1d6b1d;font-weight:600}.unmet{color:#a33;font-weight:600}.failed{color:#b07000}
.score{font-weight:600}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _csp(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"


def graded(examples: Sequence[Example], met: Mapping[tuple[str, int], Sequence[bool | None]],
           explanations: Mapping[tuple[str, int], Sequence[str]], responses: Mapping[str, str],
           repeats: int = 1) -> list[dict[str, Any]]:
    """One entry per (example, repeat) with an answer, worst score first (unscorable ones last)."""
    out = []
    for repeat in range(repeats):
        for ex in examples:
            grades = met.get((ex.prompt_id, repeat))
            if grades is None:
                continue
            why = list(explanations.get((ex.prompt_id, repeat), [])) + [""] * len(ex.rubrics)
            score = None if any(g is None for g in grades) else score_items(ex.rubrics, [bool(g) for g in grades])
            out.append({"example": ex, "repeat": repeat, "grades": list(grades), "why": why[:len(ex.rubrics)],
                        "response": responses.get(slot_key(ex.prompt_id, repeat), ""), "score": score})
    return sorted(out, key=lambda g: (g["score"] is None, g["score"] or 0.0, g["example"].prompt_id, g["repeat"]))


def _tags(tags: Sequence[str], prefix: str) -> list[str]:
    return [t.split(":", 1)[1] for t in tags if t.startswith(prefix)]


def _verdict(grade: bool | None) -> str:
    if grade is None:
        return '<span class="failed">not graded</span>'
    return '<span class="met">met</span>' if grade else '<span class="unmet">unmet</span>'


def card(g: dict[str, Any]) -> str:
    """One graded example as a <details> block; data-themes / data-axes drive the filters."""
    ex: Example = g["example"]
    themes = _tags(ex.example_tags, "theme:")
    axes = sorted({a for item in ex.rubrics for a in _tags(item.tags, "axis:")})
    score = "incomplete (an item was not graded)" if g["score"] is None else f"{100 * g['score']:.1f}%"
    rows = "".join(
        f'<tr class="item" data-axis="{_e((_tags(item.tags, "axis:") or [""])[0])}"><td class="pts">{_e(item.points)}</td>'
        f"<td>{_e(item.criterion)}<div class=\"note\">{_e(', '.join(item.tags))}</div></td><td>{_verdict(grade)}</td>"
        f"<td>{_e(why)}</td></tr>"
        for item, grade, why in zip(ex.rubrics, g["grades"], g["why"], strict=True))
    turns = "".join(f'<div class="turn"><b>{_e(t.get("role", ""))}</b><pre>{_e(t.get("content", ""))}</pre></div>'
                    for t in ex.prompt)
    repeat = f" (repeat {g['repeat']})" if g["repeat"] else ""
    return (f'<details class="ex" data-themes="{_e("|".join(themes))}" data-axes="{_e("|".join(axes))}">'
            f'<summary><span class="score">{_e(score)}</span> · {_e(ex.prompt_id)}{_e(repeat)} '
            f'<span class="note">{_e(", ".join(themes) or "no theme")}</span></summary>'
            f"<h4>conversation</h4>{turns}<h4>response</h4><pre>{_e(g['response'])}</pre>"
            f"<h4>rubric</h4><table><thead><tr><th>points</th><th>criterion</th><th>verdict</th>"
            f"<th>grader's explanation</th></tr></thead><tbody>{rows}</tbody></table>"
            f'<p>example score: <span class="score">{_e(score)}</span></p></details>')


def page(items: list[dict[str, Any]], title: str, headline: str = "") -> str:
    """The whole page: headline, theme and axis filters, one card per graded example (worst first)."""
    themes = sorted({t for g in items for t in _tags(g["example"].example_tags, "theme:")})
    axes = sorted({a for g in items for item in g["example"].rubrics for a in _tags(item.tags, "axis:")})

    def select(name: str, values: list[str]) -> str:
        options = "".join(f'<option value="{_e(v)}">{_e(v.replace("_", " "))}</option>' for v in values)
        return f'<label>{name} <select class="f" name="{name}"><option value="">all</option>{options}</select></label>'

    body = (f"<h1>{_e(title)}</h1><p class=\"note\">{_e(headline)}</p><div class=\"filters\">{select('theme', themes)}"
            f'{select("axis", axes)}<span id="shown" class="note"></span></div>'
            f'<p class="note">Worst example first; click one to read the conversation, the response and every '
            f"rubric item.</p>{''.join(card(g) for g in items)}")
    return ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_csp(SCRIPT)}"><title>{_e(title)}</title>'
            f"<style>{STYLE}</style></head><body>{body}<script>{SCRIPT}</script></body></html>")


def headline(report: Mapping[str, Any]) -> str:
    """The page's one-line summary of the report: overall score, n, failures."""
    score = report.get("score")
    overall = "–" if score is None else f"{100 * score:.1f}%"
    return (f"overall {overall} over {report['n_examples']} examples × {report.get('n_repeats', 1)}; "
            f"{report.get('response_failures', 0)} missing answers, {report.get('grading_failures', 0)} grading failures")


def write_html(items: list[dict[str, Any]], title: str, headline: str, path: str | Path) -> Path:
    """Write the page (parents created); returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page(items, title, headline), encoding="utf-8")
    return out
