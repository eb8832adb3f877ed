"""report.html's examples: the sampled items in full (query, r0, rationales, t', r' as a word diff against
r0, verdict, tokens, latency), client-side filters, and a gallery of dropped items per reason.

Every stored string is HTML-escaped; the filters are plain inline JS (hashed in the page's CSP, no network).
"""

from __future__ import annotations

import difflib
import html
from typing import Any

# A diff of two huge answers is quadratic; past this many words per side the page shows r' plainly.
MAX_DIFF_WORDS = 4000
FILTERS = (("kept", "kept"), ("reason", "drop reason"), ("facets", "facet triggered"), ("role", "user role"),
           ("refiner", "refiner"))
SCRIPT = """
document.querySelectorAll('.examples').forEach(function (box) {
  var selects = box.querySelectorAll('select.exf'), items = box.querySelectorAll('.ex'), shown = box.querySelector('.shown');
  function apply() {
    var n = 0;
    items.forEach(function (el) {
      var ok = true;
      selects.forEach(function (s) {
        if (s.value && ('|' + el.getAttribute('data-' + s.name) + '|').indexOf('|' + s.value + '|') < 0) { ok = false; }
      });
      el.hidden = !ok;
      if (ok) { n += 1; }
    });
    shown.textContent = n + ' of ' + items.length + ' shown';
  }
  selects.forEach(function (s) { s.addEventListener('change', apply); });
  apply();
});
"""
STYLE = """
.examples .filters{display:flex;gap:14px;flex-wrap:wrap;align-items:center;margin:6px 0 10px}
details.ex{border:1px solid #ddd;border-radius:4px;margin:6px 0;padding:4px 10px}
details.ex>summary{cursor:pointer}.ex .tag{font-size:12px;padding:0 5px;border-radius:3px;margin-left:6px}
.tag.kept{background:#dff3df}.tag.dropped{background:#f8dcdc}.ex pre{white-space:pre-wrap;font:13px/1.4 system-ui,sans-serif;margin:2px 0 8px}
.ex h4{font-size:13px;margin:10px 0 2px}.ex del{background:#fbe1e1;color:#a33}.ex ins{background:#dcf5dc;text-decoration:none}
.ex ul{margin:2px 0 6px}.ex .na{color:#2a7a2a}.ex .err{color:#b00}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def word_diff(before: str, after: str) -> list[tuple[str, str]]:
    """r0 → r' as [(op, words)]: op is "same", "del" or "ins"; pure, so the HTML and tests share it."""
    a, b = before.split(), after.split()
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("same", " ".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            out.append(("del", " ".join(a[i1:i2])))
        if op in ("insert", "replace"):
            out.append(("ins", " ".join(b[j1:j2])))
    return out


def diff_html(before: str, after: str) -> str:
    if max(len(before.split()), len(after.split())) > MAX_DIFF_WORDS:
        return f'<p class="note">Too long to diff; r\' as stored:</p><pre>{_e(after)}</pre>'
    tags = {"same": "{}", "del": "<del>{}</del>", "ins": "<ins>{}</ins>"}
    return "<pre>" + " ".join(tags[op].format(_e(words)) for op, words in word_diff(before, after)) + "</pre>"


def _attr(values: list[str]) -> str:
    return _e("|".join(str(v).replace("|", "/") for v in values))


def _facets(item: dict[str, Any]) -> str:
    parts = []
    for f in item["facets"]:
        if f["parse_error"]:
            body = f'<p class="err">unparseable: {_e(f["parse_error"])}</p>'
        elif not f["rationales"]:
            body = '<p class="na">N/A: nothing to add</p>'
        else:
            body = "<ul>" + "".join(f"<li>{_e(r)}</li>" for r in f["rationales"]) + "</ul>"
        parts.append(f"<h4>facet {_e(f['facet'])}</h4>{body}")
    return "".join(parts) or '<p class="note">No facet verdicts stored.</p>'


def triggered(item: dict[str, Any]) -> list[str]:
    """The facets that found something lacking, or ["none"]."""
    return [f["facet"] for f in item["facets"] if f["rationales"] and not f["parse_error"]] or ["none"]


def item_html(item: dict[str, Any], open_: bool = False) -> str:
    """One item as a <details> block whose data-* attributes drive the filters."""
    verdict = "kept" if item["kept"] else f"dropped: {item['reason']}"
    role = str(item["attributes"].get("role", "unknown"))
    data = (f'data-kept="{"kept" if item["kept"] else "dropped"}" data-reason="{_attr([item["reason"] or ""])}" '
            f'data-facets="{_attr(triggered(item))}" data-role="{_attr([role])}" data-refiner="{_attr([item["refiner"]])}"')
    attrs = ", ".join(f"{_e(k)} {_e(v)}" for k, v in item["attributes"].items())
    tokens = f"{item['prompt_tokens'] or 0:,} prompt / {item['completion_tokens'] or 0:,} completion tokens"
    latency = f"{item['latency_ms']:,.0f} ms" if item["latency_ms"] is not None else "latency unknown"
    head = (f'<summary><b>id {item["id"]}</b><span class="tag {"kept" if item["kept"] else "dropped"}">{_e(verdict)}'
            f'</span> <span class="note">{_e(role)} · {_e(item["refiner"])} · facets: {_e(", ".join(triggered(item)))}'
            f"</span><br>{_e(item['query'][:160])}{'…' if len(item['query']) > 160 else ''}</summary>")
    refined = (diff_html(item["answer"], item["refined_answer"]) if item["refined"]
               else '<p class="note">Every facet said N/A: the refiner was skipped, r\' = r0.</p>')
    body = (f'<p class="note">{attrs}</p><h4>query</h4><pre>{_e(item["query"])}</pre>'
            f'<h4>reasoning t0</h4><pre>{_e(item["reasoning"])}</pre><h4>answer r0</h4><pre>{_e(item["answer"])}</pre>'
            f'{_facets(item)}<h4>refined reasoning t\'</h4><pre>{_e(item["refined_reasoning"])}</pre>'
            f"<h4>refined answer r' (word diff against r0: <del>removed</del> <ins>added</ins>)</h4>{refined}"
            f'<h4>verdict</h4><p>{_e(verdict)}</p><p class="note">{tokens} · {latency} for the whole item</p>')
    return f'<details class="ex" {data}{" open" if open_ else ""}>{head}{body}</details>'


def _select(name: str, label: str, values: list[str]) -> str:
    options = "".join(f'<option value="{_attr([v])}">{_e(v)}</option>' for v in values)
    return f'<label>{_e(label)} <select class="exf" name="{name}"><option value="">all</option>{options}</select></label>'


def section(examples: dict[str, Any], label: str = "") -> str:
    """The examples section (filters and sampled items) and the dropped-items gallery."""
    sample = examples["sample"]
    title = f"Examples ({len(sample)} sampled{f', {_e(label)}' if label else ''})"
    if not sample:
        return f'<h2>{title}</h2><p class="note">No stored results to show.</p>'
    values = {"kept": ["kept", "dropped"], "reason": sorted({i["reason"] for i in sample if i["reason"]}),
              "facets": sorted({f for i in sample for f in triggered(i)}),
              "role": sorted({str(i["attributes"].get("role", "unknown")) for i in sample}),
              "refiner": sorted({i["refiner"] for i in sample})}
    filters = "".join(_select(name, text, values[name]) for name, text in FILTERS)
    items = "".join(item_html(i) for i in sample)
    out = (f'<h2>{title}</h2><p class="note">A seeded sample by id; click an item to read it. python -m graph.trace '
           f'--db … --id N shows the same in the terminal.</p><div class="examples"><div class="filters">{filters}'
           f'<span class="shown note"></span></div>{items}</div>')
    gallery = examples["gallery"]
    if gallery:
        out += f"<h2>Dropped items by reason{f' ({_e(label)})' if label else ''}</h2>"
        for reason, found in gallery.items():
            out += f"<h3>{_e(reason)} ({len(found)} shown)</h3>" + "".join(item_html(i) for i in found)
    return out
