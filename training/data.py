"""Build a stage's SFT dataset from a run store: `python -m training.data --db S --stage kd|sr --out DIR`.

Writes train.jsonl and validation.jsonl (one chat record per line), data_card.json and the dataset card README.md. Library users
(e.g. the graph exporter) call `iter_chat_records`. Imports no torch/transformers: it runs on the core install.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from state.errors import InputError, run_cli
from state.paths import clobbered_input, files_in
from training.dataset.card import CardBuilder
from training.dataset.filters import split_of
from training.dataset.gate import GateOptions, StoreGate, add_gate_flags, gate_options
from training.dataset.hub import check_repo, push
from training.dataset.hub_card import write_readme
from training.dataset.records import Dropped, iter_chat_records, scan_records
from training.dataset.store import STAGE_TABLE, STAGES, Stage, check_stage, damaged, open_store, run_keys
from training.dataset.token_count import Counter, load_counter

__all__ = ["build_dataset", "iter_chat_records", "main"]

SPLIT_FILES = {"train": "train.jsonl", "validation": "validation.jsonl"}
CARD_FILE = "data_card.json"


def build_dataset(
    db_path: str | Path,
    stage: Stage,
    out_dir: str | Path,
    validation_fraction: float = 0.05,
    salt: str = "muser",
    tokenizer: str | None = None,
    max_length: int | None = None,
    teacher: str | None = None,
    gate: GateOptions | None = None,
) -> dict[str, Any]:
    """Write the stage's split JSONL files and data card into `out_dir`; return the card (gated by `gate`).

    With `tokenizer`, the card also counts tokens per record and how many exceed `max_length`.

    Files are written under temporary names and renamed at the end, so a failed build leaves any
    previous dataset in place. Raises `InputError` when the store is unusable or nothing survives.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise InputError(f"--validation-fraction must be in [0, 1), got {validation_fraction}")
    out = Path(out_dir)
    names = [*SPLIT_FILES.values(), CARD_FILE, *(f".{name}.tmp" for name in SPLIT_FILES.values())]
    clash = clobbered_input([("--out", out), *files_in("--out", out, names)], [("--db", db_path)])
    if clash:
        raise InputError(clash)
    if out.exists() and not out.is_dir():
        raise InputError(
            f"--out {out} is a file — pass a directory for train.jsonl, validation.jsonl, data_card.json"
        )
    if max_length is not None and max_length < 1:
        raise InputError(f"--max-length must be a positive number of tokens, got {max_length}")
    if max_length is not None and not tokenizer:
        raise InputError("--max-length counts tokens: pass --tokenizer MODEL with it")
    _check_store(db_path, stage)  # before anything is created
    store_gate = StoreGate.for_store(db_path, gate or GateOptions())  # the run's settings, refused before any write
    counter = load_counter(tokenizer) if tokenizer else None
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    tmp = {split: out / f".{name}.tmp" for split, name in SPLIT_FILES.items()}
    try:
        tokens = (counter, str(tokenizer), max_length) if counter else None
        card = _write(db_path, stage, out, tmp, validation_fraction, salt, tokens, store_gate, teacher)
    except BaseException:
        for path in tmp.values():
            path.unlink(missing_ok=True)
        if created and not any(out.iterdir()):
            out.rmdir()
        raise
    return card


def _check_store(db_path: str | Path, stage: Stage) -> None:
    conn = open_store(db_path)
    try:
        check_stage(conn, stage, db_path)
    except sqlite3.DatabaseError as exc:
        raise damaged(db_path, exc) from None
    finally:
        conn.close()


def _write(
    db_path: str | Path,
    stage: Stage,
    out: Path,
    tmp: dict[str, Path],
    validation_fraction: float,
    salt: str,
    tokens: tuple[Counter, str, int | None] | None,
    gate: StoreGate,
    teacher: str | None = None,
) -> dict[str, Any]:
    card = CardBuilder()
    handles = {split: path.open("w", encoding="utf-8") for split, path in tmp.items()}
    try:
        for item in scan_records(db_path, stage, gate, teacher):
            if isinstance(item, Dropped):
                card.add_drop(item.reason, item.id)
                continue
            split = split_of(item["id"], validation_fraction, salt)
            handles[split].write(json.dumps(item, ensure_ascii=False) + "\n")
            card.add_record(item, split, tokens[0](item) if tokens else None)
    finally:
        for handle in handles.values():
            handle.close()
    rendered = card.render(
        stage=stage,
        source_table=STAGE_TABLE[stage],
        store=str(db_path),
        store_runs=_store_runs(db_path),
        filters={**gate.settings_card, "require_answer_part": True, "dedup": "query+answer"},
        gate=gate.card(),
        split={"validation_fraction": validation_fraction, "salt": salt, "by": "sha256(salt:id)"},
        format="messages: user query, assistant '<think>\\nreasoning\\n</think>\\n\\nanswer'",
        **({"teacher": teacher} if teacher is not None else {}),
    )
    if tokens is not None:
        rendered["length_tokens"] = card.token_section(tokens[1], tokens[2])
    if rendered["counts"]["written"] == 0:
        reasons = ", ".join(f"{k}={v}" for k, v in rendered["dropped"].items())
        raise InputError(
            f"stage {stage}: no kept row in `{STAGE_TABLE[stage]}` of {db_path} passes the filters ({reasons}) "
            "— nothing to train on; run more queries or check the run's filter settings"
        )
    for side, path in tmp.items():
        os.replace(path, out / SPLIT_FILES[side])
    (out / CARD_FILE).write_text(json.dumps(rendered, indent=2) + "\n", encoding="utf-8")
    write_readme(out, rendered)
    return rendered


def _store_runs(db_path: str | Path) -> list[str]:
    conn = open_store(db_path)
    try:
        return run_keys(conn)
    except sqlite3.DatabaseError as exc:
        raise damaged(db_path, exc) from None
    finally:
        conn.close()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.data",
        description="Build the SFT dataset of one training stage from a MuSeR run store.",
    )
    parser.add_argument("--db", required=True, help="the run store (SQLite) written by `python -m graph.run`")
    parser.add_argument(
        "--stage",
        required=True,
        choices=STAGES,
        help="kd: the teacher's reasoning+answer (stage 1); sr: refined reasoning t' and answer r' (stage 2)",
    )
    parser.add_argument(
        "--out", required=True, help="output directory (train.jsonl, validation.jsonl, data_card.json)"
    )
    parser.add_argument(
        "--validation-fraction", type=float, default=0.05, help="share of records held out (by hash of id)"
    )
    parser.add_argument(
        "--split-salt", default="muser", help="salt of the split hash; change it for another split"
    )
    parser.add_argument(
        "--tokenizer",
        default=None,
        help="model whose tokenizer counts tokens for the card (the recipe's model_name_or_path; needs the "
        "train extra)",
    )
    parser.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="the recipe's max_length: the card counts records longer than it (training drops them)",
    )
    parser.add_argument("--teacher", default=None, help="stage kd: the teacher (model name) whose answers to use, "
                        "when the store holds several")
    parser.add_argument("--push-to-hub", metavar="REPO", default=None,
                        help="also upload the dataset to a Hugging Face hub as dataset repo REPO (owner/name)")
    add_gate_flags(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry: build the dataset and print a one-screen summary of the card."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    args = parse_args(argv)
    if args.push_to_hub:
        check_repo(args.push_to_hub)
    card = build_dataset(
        args.db,
        cast(Stage, args.stage),
        args.out,
        args.validation_fraction,
        args.split_salt,
        args.tokenizer,
        args.max_length,
        teacher=args.teacher,
        gate=gate_options(args),
    )
    table = Table(title=escape(f"stage {args.stage} → {args.out}"))
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, value in card["counts"].items():
        table.add_row(name, str(value))
    for reason, value in card["dropped"].items():
        table.add_row(escape(f"dropped: {reason}"), str(value), style="dim")
    tokens = card.get("length_tokens")
    if tokens:
        table.add_row(
            "tokens p50 / p95 / max",
            " / ".join(str(tokens["percentiles"][p]) for p in ("p50", "p95", "p100")),
        )
        if tokens["over_max_length"] is not None:
            table.add_row(
                f"over max_length {tokens['max_length']} (dropped at training)",
                str(tokens["over_max_length"]),
            )
    Console().print(table)
    if args.push_to_hub:
        print(f"pushed to {push(Path(args.out), args.push_to_hub)}")
    return 0


if __name__ == "__main__":
    run_cli(main)
