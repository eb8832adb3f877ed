"""`python -m eval.healthbench`: answer HealthBench conversations with a policy, grade every rubric item,
print the table and write report.json / plots. Resumable: run the same command again after a kill.

    python -m eval.healthbench --data healthbench.jsonl --base-url http://gpu:8000/v1 \\
        --grader-base-url https://api.openai.com/v1 --db evals/qwen.sqlite --out report.json

The default grading is the reference's (--grader-prompt reference; gpt-4.1-2025-04-14 on api.openai.com).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from eval.batch.clients import SetupError, endpoints, open_clients
from eval.batch.progress import live_progress
from eval.batch.runner import Outcome, check_responder, evaluate
from eval.batch.store import EvalStore, StoreError
from eval.data.examples import DataError, Example, load_examples, load_responses, select
from eval.grading.setup import GradingError, grader_template
from eval.options import build_parser, check_args, samplings, subset_of
from eval.reports.html import graded, headline, write_html
from eval.reports.paired import example_scores
from eval.reports.report import build_report, report_table, write_json
from nodes.llm.client import EndpointsDown, LLMError


def check_given(examples: Sequence[Example], given: dict[str, str], source: Path) -> None:
    missing = [ex.prompt_id for ex in examples if ex.prompt_id not in given]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(
            f"{source} has no response for prompt_id {missing[0]!r}{more}; "
            "give one per example, grade a data file that matches, or pass --only-answered"
        )


def answered(examples: Sequence[Example], given: dict[str, str], source: Path) -> list[Example]:
    """--only-answered: the examples `given` answers (e.g. graph.export's single-turn ones), in data order."""
    kept = [ex for ex in examples if ex.prompt_id in given]
    if not kept:
        raise DataError(f"{source} answers none of the selected examples; check --data and --responses match")
    return kept


async def run(
    args: argparse.Namespace,
    examples: list[Example],
    given: dict[str, str] | None,
    store: EvalStore,
    data_label: str,
    n_available: int,
    policy_urls: list[str],
    grader_urls: list[str],
    err: Console,
) -> tuple[dict[str, Any], Outcome, str]:
    """Open the clients, record the run, evaluate with live progress; returns (report, outcome, responder)."""
    policy_sampling, grader_sampling = samplings(args)
    template = grader_template(args.grader_prompt)

    def log(message: str) -> None:
        err.print(message, markup=False)

    async with open_clients(
        args, policy_urls, grader_urls, given is None, grader_sampling, template, log
    ) as (policy, grader, responder, setup):
        grader_model = setup.model
        check_responder(store, responder)
        config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        config.update(
            policy_model=responder,
            grader_model=grader_model,
            policy_sampling=policy_sampling.model_dump(),
            grader_sampling=grader_sampling.model_dump(),
            grading=setup.as_dict(),
            n_selected=len(examples),
            n_available=n_available,
        )
        err.print(
            f"policy: {escape(responder)} · grader: {escape(grader_model)} ({args.grader_prompt} prompt) · "
            f"{len(examples)} examples × {args.n_repeats} from {escape(data_label)} · db {escape(str(args.db))}"
        )
        run_id = store.start_run(
            data=data_label,
            subset=subset_of(data_label, args.subset),
            policy=responder,
            grader=grader_model,
            config=config,
        )
        repeats = args.n_repeats
        n_items = repeats * sum(len(ex.rubrics) for ex in examples)
        with live_progress(err, repeats * len(examples), n_items) as events:
            outcome = await evaluate(
                examples,
                store,
                grader,
                grader_model,
                responder=responder,
                policy=policy,
                policy_sampling=policy_sampling,
                given=given,
                events=events,
                concurrency=args.concurrency if args.base_url else 1,
                grader_concurrency=args.concurrency if args.grader_base_url else 1,
                template=template,
                system_prompt=args.system_prompt,
                repeats=repeats,
            )
        report = build_report(
            examples, outcome.met, seed=args.seed, repeats=repeats, failed_items=args.failed_items
        )
        report["grading"] = setup.as_dict()
        # per-example metrics: eval.compare pairs two gradings of the same examples and lists their differences
        per_example = example_scores(examples, outcome.met, repeats, args.failed_items)
        store.finish_run(run_id, {**report, "per_example": per_example})
        return report, outcome, responder


def main(argv: Sequence[str] | None = None) -> int:
    """Exit 0 when every example was scored, 1 when some could not be (report still written), 2 on bad input."""
    args = build_parser(__doc__).parse_args(argv)
    err, out = Console(stderr=True, soft_wrap=True, highlight=False), Console()
    if args.responses and args.base_url:
        err.print(
            "error: --responses grades given answers; drop --base-url (no policy is called)", markup=False
        )
        return 2
    problem = check_args(args)
    if problem is None and args.responses and args.n_repeats > 1:
        problem = "--n-repeats repeats policy calls; given --responses are graded once (drop --n-repeats)"
    if problem is None and args.only_answered and not args.responses:
        problem = "--only-answered selects the examples a --responses file answers; give --responses"
    if problem is None and args.responses and args.system_prompt is not None:
        problem = "--system-prompt goes to the policy; given --responses were written without it (drop it)"
    if problem:
        err.print(f"error: {problem}", markup=False)
        return 2
    try:
        grader_template(args.grader_prompt)
        available, data_label = load_examples(args.data)
        examples = select(available, args.n, args.seed)
        given = load_responses(args.responses) if args.responses else None
        if given is not None and args.only_answered:
            examples = answered(examples, given, args.responses)
        if given is not None:
            check_given(examples, given, args.responses)
        store = EvalStore(args.db)
    except (DataError, StoreError, GradingError) as exc:
        err.print(f"error: {exc}", markup=False)
        return 2
    try:
        with ExitStack() as stack:
            policy_urls, grader_urls = endpoints(stack, args, lambda m: err.print(m, markup=False))
            report, outcome, responder = asyncio.run(
                run(args, examples, given, store, data_label, len(available), policy_urls, grader_urls, err)
            )
            answers = {key: stored.response for key, stored in store.responses().items()}
    except (DataError, StoreError, LLMError, SetupError, GradingError) as exc:
        err.print(f"error: {exc}", markup=False)
        return 1 if isinstance(exc, EndpointsDown) else 2
    except KeyboardInterrupt:
        err.print(
            "interrupted; everything finished so far is stored: run the same command again to resume",
            markup=False,
        )
        return 130
    finally:
        store.close()
    out.print(report_table(report, f"HealthBench · {responder} · {data_label}"))
    if args.out:
        err.print(f"report written to {escape(str(write_json(report, args.out)))}")
        items = graded(examples, outcome.met, outcome.explanations, answers, args.n_repeats)
        page = write_html(items, f"HealthBench · {responder} · {data_label}", headline(report), args.out.with_suffix(".html"))
        err.print(f"graded examples written to {escape(str(page))}")
    if args.plots:
        from eval.reports.plots import PlotError, plot_runs

        try:
            paths = plot_runs({responder: report}, args.plots)
        except PlotError as exc:
            err.print(f"error: {exc}", markup=False)
            return 2
        err.print("plots written: " + escape(", ".join(str(p) for p in paths)))
    err.print(
        f"this run: {outcome.policy_calls} policy calls, {outcome.grader_calls} rubric items sent to the grader"
    )
    for message in outcome.errors:
        err.print(f"failure: {message}", markup=False)
    missing = report["response_failures"] + report["grading_failures"]
    if missing:
        err.print(
            f"incomplete: {report['response_failures']} responses and {report['grading_failures']} rubric "
            f"items could not be obtained (scored as {report['failed_items']}; see the failures table in --db); "
            "run the same command again to retry"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
