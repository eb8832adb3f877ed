"""The report's tables as plain data (title, header, rows), shared by the terminal and HTML renderings.

A cell is a string, or a Trace: an example id the HTML turns into its graph.trace command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graph.report.text import fmt_int, fmt_num, pct, rate_cell


@dataclass(frozen=True)
class Trace:
    """An example id; rendered as `python -m graph.trace --db DB --id N`."""

    id: int


Cell = str | Trace


@dataclass
class Section:
    title: str
    header: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    note: str = ""

    def add(self, *cells: Any) -> None:
        self.rows.append([c if isinstance(c, Trace) else ("" if c is None else str(c)) for c in cells])


def _trace(example: int | None) -> Cell:
    return "" if example is None else Trace(example)


def outcome(report: dict[str, Any]) -> Section:
    o = report["outcome"]
    t = Section("Outcome", ["", "count", "share (95% interval)", "example"])
    t.add("expected (n)", fmt_int(o["expected"]), "", "")
    t.add("results", fmt_int(o["results"]), "", "")
    t.add("  kept", fmt_int(o["kept"]["k"]), rate_cell(o["kept"]), "")
    for reason, cell in o["dropped"].items():
        t.add(f"  dropped: {reason}", fmt_int(cell["count"]), pct(cell["count"] / o["results"]), _trace(cell["example_id"]))
    t.add("  refined", fmt_int(o["refined"]), pct(o["refined_share"]), "")
    t.add("  skipped (every facet N/A)", fmt_int(o["skipped"]), "", "")
    t.add("failures", fmt_int(o["failures"]), "", "")
    for f in o["failures_by"]:
        t.add(f"  {f['stage']}: {f['error_class']}", fmt_int(f["count"]), "", _trace(f["example_id"]))
    if o["pending"]:
        t.add("not done yet", fmt_int(o["pending"]), "", "")
    return t


def facets(report: dict[str, Any]) -> Section:
    t = Section("Facets", ["facet", "found lacking (95% interval)", "N/A", "parse failed",
                           "rationales per answer 0/1/2/3+", "mean r'−r0 words by rationale count", "example"],
                note="Shares of evaluated answers; the lacking rate leaves parse failures out of n.")
    for facet, f in report["facets"].items():
        counts = {int(k): v for k, v in f["rationale_counts"].items()}
        dist = "/".join(fmt_int(counts.get(c, 0)) for c in (0, 1, 2))
        dist += "/" + fmt_int(sum(v for k, v in counts.items() if k >= 3))
        by = "  ".join(f"{b['rationales']}: {fmt_num(b['mean_delta_words'])}" for b in f["by_count"])
        t.add(facet, rate_cell(f["lacking_rate"]), pct(f["na_share"]), pct(f["parse_failed_share"]), dist, by,
              _trace(f["example_id"]))
    return t


def openings(report: dict[str, Any]) -> Section:
    t = Section("Commonest rationale openings", ["facet", "opening (first words)", "count", "share", "example"])
    for facet, f in report["facets"].items():
        for o in f["openings"]:
            t.add(facet, o["opening"], fmt_int(o["count"]), pct(o["share"]), _trace(o["example_id"]))
    return t


def context(report: dict[str, Any]) -> Section:
    names = list(report["facets"])
    t = Section("Facet trigger rate by user context", ["attribute = value", *names],
                note=f"Rate, 95% Wilson interval and n per cell; country 'home' is {report['context']['home_country']}.")
    for attribute, cells in report["context"]["attributes"].items():
        for value in sorted({c["value"] for c in cells}):
            by_facet = {c["facet"]: c for c in cells if c["value"] == value}
            t.add(f"{attribute} = {value}", *(rate_cell(by_facet[f]) if f in by_facet else "" for f in names))
    return t


def refinement(report: dict[str, Any]) -> Section:
    r = report["refinement"]
    t = Section(f"Refinement effect ({fmt_int(r['refined'])} refined answers)", ["", "mean", "p10", "p50", "p90"],
                note="Asks a question: some sentence ends in '?' and addresses the reader (you/your).")
    for label, key in (("r0 words", "words_r0"), ("r' words", "words_r1"), ("r' − r0 words", "delta_words")):
        d = r[key]
        t.add(label, fmt_num(d["mean"]), fmt_num(d["p10"]), fmt_num(d["p50"]), fmt_num(d["p90"]))
    t.add("asks the user a question: r0", rate_cell(r["asks_question_r0"]), "", "", "")
    t.add("asks the user a question: r'", rate_cell(r["asks_question_r1"]), "", "", "")
    return t


def cost(report: dict[str, Any]) -> Section:
    c = report["cost"]
    t = Section("Cost", ["node", "calls", "prompt tokens", "completion tokens", "p50 ms", "p90 ms", "p99 ms"],
                note="Tokens of every stored graph call (query generation is not stored per item); latency per call.")
    for n in c["nodes"]:
        lat = n["latency_ms"]
        t.add(n["node"], fmt_int(n["calls"]), fmt_int(n["prompt_tokens"]), fmt_int(n["completion_tokens"]),
              fmt_num(lat["p50"]), fmt_num(lat["p90"]), fmt_num(lat["p99"]))
    lat = c["item_latency_ms"]
    t.add("whole item", "", "", "", fmt_num(lat["p50"]), fmt_num(lat["p90"]), fmt_num(lat["p99"]))
    t.add("total", "", fmt_int(c["total"]["prompt_tokens"]), fmt_int(c["total"]["completion_tokens"]), "", "", "")
    t.add("per kept triplet", "", fmt_num(c["per_kept"]["prompt_tokens"]), fmt_num(c["per_kept"]["completion_tokens"]),
          "", "", "")
    if c["price"]:
        p = c["price"]
        t.add(f"USD at {p['in_per_million']}/M in, {p['out_per_million']}/M out", "",
              f"total {p['total_usd']:.4f}", f"per kept {fmt_num(p['per_kept_usd'], 6)}", "", "", "")
    return t


def teacher(report: dict[str, Any]) -> Section:
    tch = report["teacher"]
    t = Section("Teacher vs backbone", ["", "teacher", "backbone (r')"])
    if tch is None:
        t.note = "No teacher answers stored in this run."
        return t
    final = report["refinement"]["words_final_all"]
    t.add("answers", fmt_int(tch["answers"]), fmt_int(report["outcome"]["results"]))
    t.add("kept", rate_cell(tch["kept"]), rate_cell(report["outcome"]["kept"]))
    t.add("words mean / p50", f"{fmt_num(tch['words']['mean'])} / {fmt_num(tch['words']['p50'])}",
          f"{fmt_num(final['mean'])} / {fmt_num(final['p50'])}")
    t.add("tokens prompt / completion", f"{fmt_int(tch['prompt_tokens'])} / {fmt_int(tch['completion_tokens'])}", "")
    for reason, n in tch["dropped"].items():
        t.add(f"dropped: {reason}", fmt_int(n), "")
    return t


SECTIONS: list[Callable[[dict[str, Any]], Section]] = [outcome, facets, openings, context, refinement, cost, teacher]
