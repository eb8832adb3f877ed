"""Command-line options of python -m eval.healthbench and the sampling they resolve to."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from eval.grading.setup import MUSER, PROMPTS, REFERENCE
from eval.reports.report import DROP, FAILED_ITEMS
from graph.url_flags import UrlList
from state.config import Sampling
from state.paths import clobbered_input, files_in

# The embedded SmolLM2 answers HealthBench without a grammar and rambles to any cap: short caps keep an
# evaluation on a laptop to minutes (the graph's own small-profile budgets are in state/profiles.py).
EMBEDDED_POLICY_MAX_TOKENS = 384
EMBEDDED_GRADER_MAX_TOKENS = 160
PLOT_FILES = ("axes.png", "themes.png")  # what --plots writes (eval/reports/plots.py)
POLICY_MAX_TOKENS = 40960  # paper Appendix B
GRADER_MAX_TOKENS = 2048  # the reference's grader setting


def subset_of(data_label: str, chosen: str) -> str:
    """The subset a run reports under in eval.compare: as given, else guessed from the data file name."""
    if chosen != "auto":
        return chosen
    name = data_label.lower()
    return "hard" if "hard" in name else "consensus" if "consensus" in name else "full"


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.healthbench",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--data", required=True, help="HealthBench JSONL (main, hard or consensus file) or 'bundled'"
    )
    p.add_argument(
        "--db", required=True, type=Path, help="SQLite store for this policy, e.g. evals/qwen.sqlite"
    )
    p.add_argument("--n", type=int, help="grade a seeded sample of N examples (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and of the bootstrap (default 0)")
    p.add_argument(
        "--subset",
        choices=["auto", "full", "hard", "consensus"],
        default="auto",
        help="label used by eval.compare (default: guessed from the data file name)",
    )
    src = p.add_argument_group("policy (the model being evaluated)")
    src.add_argument(
        "--base-url", action=UrlList, default=[], help="policy /v1 URL(s); omit to use the embedded model"
    )
    src.add_argument("--model", help="policy model name (default: discovered from /v1/models)")
    src.add_argument(
        "--responses", type=Path, help="grade JSON lines {prompt_id, response} instead of calling a policy"
    )
    src.add_argument(
        "--only-answered",
        action="store_true",
        help="with --responses: grade only the examples it answers (graph.export skips multi-turn ones)",
    )
    src.add_argument(
        "--system-prompt", help="system turn sent before each conversation to the policy (default: none)"
    )
    src.add_argument("--temperature", type=float, default=0.6, help="policy temperature (default 0.6)")
    src.add_argument("--top-p", type=float, default=0.95, help="policy top-p (default 0.95)")
    src.add_argument("--top-k", type=int, default=40, help="policy top-k, 0 to not send it (default 40)")
    src.add_argument("--max-tokens", type=int, help="policy max new tokens (default 40960; embedded 384)")
    add_grader_options(p)
    o = p.add_argument_group("run and output")
    o.add_argument(
        "--n-repeats", type=int, default=1, help="answer each example K times; report pooled and spread"
    )
    o.add_argument(
        "--failed-items",
        choices=FAILED_ITEMS,
        default=DROP,
        help="an ungraded item or missing answer: leave the example out (default) or count it as unmet",
    )
    o.add_argument("--concurrency", type=int, default=256, help="requests in flight per server (default 256)")
    o.add_argument(
        "--embedded-port",
        type=int,
        help="port of the embedded model, used when a URL is omitted (default 8765)",
    )
    o.add_argument("--out", type=Path, help="write the report JSON here, and beside it the graded examples as HTML (report.json → report.html)")
    o.add_argument("--plots", type=Path, help="write axes.png and themes.png into this directory")
    return p


def add_grader_options(p: argparse.ArgumentParser) -> None:
    """The grader's options, shared by eval.healthbench and eval.meta."""
    g = p.add_argument_group("grader")
    g.add_argument(
        "--grader-base-url", action=UrlList, default=[], help="grader /v1 URL(s); omit for the embedded model"
    )
    g.add_argument(
        "--grader-model",
        help="grader model name (default: gpt-4.1-2025-04-14 on api.openai.com, else from /v1/models)",
    )
    g.add_argument(
        "--grader-prompt",
        choices=PROMPTS,
        help="reference: the published HealthBench grader (default with --grader-base-url); "
        "muser: this project's prompt (default for the embedded model)",
    )
    g.add_argument("--grader-temperature", type=float, default=0.5, help="grader temperature (default 0.5)")
    g.add_argument("--grader-max-tokens", type=int, help="grader max new tokens (default 2048; embedded 160)")
    g.add_argument(
        "--grader-retries", type=int, default=3, help="extra tries for unusable grader output (default 3)"
    )
    g.add_argument(
        "--grader-structured",
        choices=["auto", "on", "off"],
        help="muser prompt only: auto (default) probes the server once (JSON schema, llama.cpp schema, "
        "else plain); the reference prompt always reads plain text",
    )


# (flag, attribute, lowest, highest, what to give): values outside are refused before any work.
RANGES: tuple[tuple[str, str, float, float, str], ...] = (
    ("--temperature", "temperature", 0.0, 2.0, "a number from 0 to 2"),
    ("--top-p", "top_p", math.ulp(0.0), 1.0, "a number above 0 and at most 1"),
    ("--top-k", "top_k", -1, math.inf, "a whole number of at least -1 (0 leaves it out)"),
    ("--max-tokens", "max_tokens", 1, math.inf, "a whole number of at least 1"),
    ("--grader-temperature", "grader_temperature", 0.0, 2.0, "a number from 0 to 2"),
    ("--grader-max-tokens", "grader_max_tokens", 1, math.inf, "a whole number of at least 1"),
    ("--grader-retries", "grader_retries", 0, 100, "a whole number from 0 to 100"),
    ("--concurrency", "concurrency", 1, math.inf, "a whole number of at least 1"),
    ("--n-repeats", "n_repeats", 1, 1000, "a whole number from 1 to 1000"),
    ("--n", "n", 1, math.inf, "a whole number of at least 1"),
    ("--embedded-port", "embedded_port", 1, 65535, "a port from 1 to 65535"),
)


def check_args(args: argparse.Namespace) -> str | None:
    """Resolve the grader prompt's default, then one line naming the first bad option (NaN, infinities and
    out-of-range values included), or None.
    """
    if args.grader_prompt is None:
        args.grader_prompt = REFERENCE if args.grader_base_url else MUSER
    for flag, name, low, high, what in RANGES:
        value = getattr(args, name, None)
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            return f"{flag} {value!r} is out of range; give {what}"
    plots = getattr(args, "plots", None)  # eval.meta draws no plots
    clash = clobbered_input(
        [("--out", args.out), *files_in("--plots", plots or "", PLOT_FILES if plots else ())],
        [(flag, getattr(args, flag[2:], None)) for flag in ("--data", "--db", "--responses")],
    )
    if clash:
        return clash
    if args.grader_prompt == REFERENCE and args.grader_structured == "on":
        return (
            "--grader-structured on applies to --grader-prompt muser; the reference grader reads plain text"
        )
    return None


def grader_sampling(args: argparse.Namespace) -> Sampling:
    """The grader's sampling; the embedded model gets the small CPU token budget."""
    grader_max = GRADER_MAX_TOKENS if args.grader_base_url else EMBEDDED_GRADER_MAX_TOKENS
    return Sampling.model_validate(
        {
            "temperature": args.grader_temperature,
            "top_p": 1.0,
            "top_k": None,
            "max_tokens": args.grader_max_tokens or grader_max,
        }
    )


def samplings(args: argparse.Namespace) -> tuple[Sampling, Sampling]:
    """(policy, grader) sampling; a role served by the embedded model gets the small CPU token budget."""
    policy_max = POLICY_MAX_TOKENS if args.base_url else EMBEDDED_POLICY_MAX_TOKENS
    policy = {"temperature": args.temperature, "top_p": args.top_p, "top_k": args.top_k or None}
    return (
        Sampling.model_validate({**policy, "max_tokens": args.max_tokens or policy_max}),
        grader_sampling(args),
    )
