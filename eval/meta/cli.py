"""`python -m eval.meta --data META.jsonl --grader-base-url …`: how well a grader agrees with physicians.

Grades every completion of HealthBench's meta-evaluation file (a path you give; never committed) with the
chosen grading setup and reports pairwise agreement with the physicians the way the reference does: overall
and by category, precision, recall and F1 per class and balanced, beside the physicians' own agreement with
each other. Test a local grader here before trusting its HealthBench numbers.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from eval.batch.clients import SetupError, endpoints, open_grader
from eval.data.examples import DataError
from eval.grading.grader import render_conversation
from eval.grading.setup import GradingError, describe, grader_template
from eval.meta.agreement import mean_over_physicians, physician_agreement, rater_agreement
from eval.meta.rows import MetaRow, load_meta, sample_meta
from eval.options import add_grader_options, check_args, grader_sampling
from eval.reports.report import write_json
from nodes.llm.client import EndpointsDown, LLMError

HEADLINE = "pairwise_model_f1_balanced"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.meta", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", required=True, type=Path, help="HealthBench meta-eval JSONL (a local path)")
    p.add_argument("--n", type=int, help="grade a seeded sample of N rows (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0, as the reference)")
    p.add_argument("--concurrency", type=int, default=64, help="grader requests in flight (default 64)")
    p.add_argument("--embedded-port", type=int, help="port of the embedded model when no grader URL is given")
    p.add_argument("--out", type=Path, help="write the agreement report JSON here")
    add_grader_options(p)
    return p


def agreement_report(rows: Sequence[MetaRow], verdicts: Sequence[bool | None]) -> dict[str, Any]:
    """Agreement of the graded rows (failed grades left out) and the physicians' baseline on the same rows."""
    graded = [(row, v) for row, v in zip(rows, verdicts, strict=True) if v is not None]
    kept = [row for row, _ in graded]
    model = rater_agreement(
        [v for _, v in graded], [row.labels for row in kept], [row.category for row in kept]
    )
    humans = physician_agreement(
        [r.labels for r in kept], [r.physicians for r in kept], [r.category for r in kept]
    )
    names = [name for name in model if name.endswith("_balanced")]
    baseline = {
        name: mean_over_physicians(humans, name.replace("pairwise_model_", "pairwise_physician_"))
        for name in names
    }
    return {
        "score": model.get(HEADLINE, {}).get("value"),
        "metrics": {name: m["value"] for name, m in model.items()},
        "n_pairs": {name: m["n"] for name, m in model.items()},
        "physician_baseline": baseline,
        "n_rows": len(rows),
        "grading_failures": len(rows) - len(kept),
    }


def table(report: dict[str, Any], title: str) -> Table:
    """Balanced F1 / precision / recall per category and overall, beside the physicians' balanced F1."""
    out = Table(title=escape(title), title_justify="left")
    for name in ("scope", "F1 (balanced)", "physicians' F1", "precision (bal.)", "recall (bal.)", "pairs"):
        out.add_column(name, justify="left" if name == "scope" else "right")
    metrics, base = report["metrics"], report["physician_baseline"]
    scopes = sorted({name.split(": ", 1)[0] for name in metrics if ": " in name})

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{100 * value:.1f}"

    for scope in ["overall", *scopes]:
        prefix = "" if scope == "overall" else f"{scope}: "
        key = f"{prefix}{HEADLINE}"
        out.add_row(
            escape(scope),
            pct(metrics.get(key)),
            pct(base.get(key)),
            pct(metrics.get(f"{prefix}pairwise_model_precision_balanced")),
            pct(metrics.get(f"{prefix}pairwise_model_recall_balanced")),
            f"{report['n_pairs'].get(key, 0):g}",
            end_section=scope == "overall",
        )
    out.caption = f"{report['n_rows']} rows, {report['grading_failures']} grading failures"
    return out


async def grade_rows(
    args: argparse.Namespace, rows: Sequence[MetaRow], urls: list[str], err: Console
) -> dict[str, Any]:
    """Grade every row with the chosen setup and build the agreement report."""
    template = grader_template(args.grader_prompt)

    def log(message: str) -> None:
        err.print(message, markup=False)

    async with open_grader(args, urls, grader_sampling(args), template, log) as (grader, setup):
        err.print(f"grading {len(rows)} rows with {escape(describe(setup.as_dict()))}")
        gate = asyncio.Semaphore(args.concurrency if args.grader_base_url else 1)

        async def one(row: MetaRow) -> bool | None:
            content = template.render(
                conversation=render_conversation(row.prompt, row.completion), rubric_item=row.rubric
            )
            async with gate:
                result = await grader.grade(content)
            return result.met

        verdicts = await asyncio.gather(*(one(row) for row in rows))
    report = agreement_report(rows, verdicts)
    report["grading"] = setup.as_dict()
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when every row was graded, 1 when some grades failed (report still written), 2 on bad input."""
    args = build_parser().parse_args(argv)
    err, out = Console(stderr=True, soft_wrap=True, highlight=False), Console()
    problem = check_args(args)
    if problem:
        err.print(f"error: {problem}", markup=False)
        return 2
    try:
        grader_template(args.grader_prompt)
        rows = sample_meta(load_meta(args.data), args.n, args.seed)
        with ExitStack() as stack:
            _, urls = endpoints(stack, args, lambda m: err.print(m, markup=False))
            report = asyncio.run(grade_rows(args, rows, urls, err))
    except (DataError, GradingError, SetupError, LLMError) as exc:
        err.print(f"error: {exc}", markup=False)
        return 1 if isinstance(exc, EndpointsDown) else 2
    except KeyboardInterrupt:
        err.print("interrupted; nothing was written", markup=False)
        return 130
    out.print(table(report, f"Grader agreement with physicians · {report['grading']['model']}"))
    if args.out:
        err.print(f"report written to {escape(str(write_json(report, args.out)))}")
    if report["grading_failures"]:
        err.print(f"incomplete: {report['grading_failures']} rows could not be graded and are left out")
        return 1
    return 0

