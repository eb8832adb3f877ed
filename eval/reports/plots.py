"""PNG bar charts of HealthBench axes and themes; several runs appear as side-by-side bars.

matplotlib is an optional dependency (the `eval` extra) and is imported with the Agg backend only
when a plot is asked for, so headless machines and the rest of the package never need it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eval.reports.report import AXIS_KEYS, THEME_KEYS, pretty


class PlotError(RuntimeError):
    """Plots cannot be drawn (matplotlib missing); str() is one line with the fix."""


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PlotError("--plots needs matplotlib: pip install 'muser-graph[eval]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bar_chart(runs: Mapping[str, Mapping[str, Any]], keys: Sequence[str], title: str, path: Path) -> Path:
    """One group of bars per metric key, one bar per run, with bootstrap-std error bars, in percent."""
    plt = _pyplot()
    labels = list(runs)
    width = 0.8 / max(1, len(labels))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(keys) * max(1, len(labels)) ** 0.5 + 2), 4.2))
    try:
        for i, label in enumerate(labels):
            report = runs[label]
            # A metric without examples stays empty (NaN) rather than drawn as a zero score.
            values = [100 * report["metrics"].get(k, math.nan) for k in keys]
            errors = [100 * report["bootstrap_std"].get(k, 0.0) for k in keys]
            xs = [j + (i - (len(labels) - 1) / 2) * width for j in range(len(keys))]
            bars = ax.bar(xs, values, width, yerr=errors, capsize=2, label=label.replace("$", r"\$"))
            ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels([pretty(k).replace(" ", "\n", 1) for k in keys], fontsize=8)
        ax.set_ylabel("score (%)")
        ax.set_ylim(0, 100)
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        if len(labels) > 1:
            ax.legend(fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
    return path


def plot_runs(runs: Mapping[str, Mapping[str, Any]], out_dir: str | Path) -> list[Path]:
    """Write axes.png and themes.png for one or more labelled reports; returns the paths."""
    out = Path(out_dir)
    return [
        bar_chart(runs, AXIS_KEYS, "HealthBench by axis", out / "axes.png"),
        bar_chart(runs, THEME_KEYS, "HealthBench by theme", out / "themes.png"),
    ]
