"""PNG plots of a report (matplotlib, Agg): facet trigger rates per attribute value with their 95%
intervals, and the answer-length distributions r0 → r'."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

FACET_COLOURS = {"decision": "#1f77b4", "communication": "#ff7f0e", "safety": "#2ca02c"}
DPI = 72


class PlotError(RuntimeError):
    """Plots cannot be drawn (matplotlib missing); str() is one line with the fix."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PlotError("plots need matplotlib: pip install 'muser-graph[eval]' (or pass --no-plots)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def context_plot(attribute: str, cells: Sequence[dict[str, Any]], path: Path, facets: Sequence[str] = ()) -> Path:
    """Trigger rate per value and facet as a point with its Wilson interval; n written beside it."""
    plt = _pyplot()
    values = sorted({c["value"] for c in cells})
    seen = {c["facet"] for c in cells}
    facets = [f for f in facets if f in seen] + sorted(seen - set(facets))
    fig, ax = plt.subplots(figsize=(7.5, max(2.2, 0.55 * len(values) + 1.2)), dpi=DPI)
    step = 0.8 / max(1, len(facets))
    for j, facet in enumerate(facets):
        ys, xs, lo, hi, ns = [], [], [], [], []
        for i, value in enumerate(values):
            cell = next((c for c in cells if c["value"] == value and c["facet"] == facet), None)
            if cell is None or cell["rate"] is None:
                continue
            ys.append(i + (j - (len(facets) - 1) / 2) * step)
            xs.append(cell["rate"])
            lo.append(max(0.0, cell["rate"] - cell["low"]))
            hi.append(max(0.0, cell["high"] - cell["rate"]))
            ns.append(cell["n"])
        ax.errorbar(xs, ys, xerr=[lo, hi], fmt="o", ms=4, capsize=3, label=facet,
                    color=FACET_COLOURS.get(facet))
        for x, y, n in zip(xs, ys, ns, strict=True):
            ax.annotate(f"n={n}", (x, y), xytext=(5, 2), textcoords="offset points", fontsize=7, color="#555")
    ax.set_yticks(range(len(values)), [_short(v) for v in values], fontsize=8)
    ax.set_xlim(-0.02, 1.12)
    ax.invert_yaxis()
    ax.set_xlabel("share of answers the facet found lacking (95% Wilson interval)")
    ax.set_title(f"Facet trigger rate by {attribute}", fontsize=10, pad=18)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(facets), frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def lengths_plot(hist: dict[str, list[tuple[int, int]]], path: Path) -> Path:
    """Word-count histograms of r0 and r' (refined answers) and of the change r' − r0."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3), dpi=DPI)
    for key, label, colour in (("r0", "r0 (first answer)", "#888"), ("r1", "r' (refined)", "#1f77b4")):
        pairs = hist.get(key) or []
        if pairs:
            left.hist([w for w, _ in pairs], weights=[c for _, c in pairs], bins=30, histtype="step",
                      linewidth=1.5, label=label, color=colour)
    left.set_xlabel("words")
    left.set_ylabel("answers")
    left.set_title("Answer length, refined results", fontsize=10)
    if left.get_legend_handles_labels()[0]:
        left.legend(fontsize=7)
    else:  # an empty store: say so rather than draw an empty legend (matplotlib warns about it)
        left.text(0.5, 0.5, "no refined results yet", ha="center", va="center", transform=left.transAxes)
    delta = hist.get("delta") or []
    if delta:
        right.hist([d for d, _ in delta], weights=[c for _, c in delta], bins=30, color="#2ca02c")
    right.axvline(0, color="#333", linewidth=0.8)
    right.set_xlabel("r' − r0 (words)")
    right.set_title("Length change", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def draw_all(report: dict[str, Any], out_dir: Path, prefix: str = "") -> dict[str, Path]:
    """Every plot of one report into out_dir; name → file."""
    out: dict[str, Path] = {}
    for attribute, cells in report["context"]["attributes"].items():
        if cells:
            path = out_dir / f"{prefix}context_{attribute}.png"
            out[f"context_{attribute}"] = context_plot(attribute, cells, path, list(report["facets"]))
    out["lengths"] = lengths_plot(report["refinement"]["hist"], out_dir / f"{prefix}lengths.png")
    return out


def _short(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
