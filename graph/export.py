"""python -m graph.export --db runs/main.sqlite --what sr|kd --out data.jsonl: training-ready chat records.
python -m graph.export --db runs/hb.sqlite --what initial|refined --out r.jsonl: r0 or r' of given queries as
{"prompt_id", "response"} lines for eval.healthbench --responses (graph.queries.answers).

sr: (q, t', r') self-refinement triplets; kd: the teacher's answers. Only kept rows passing the paper's
filters and the data-quality gate (training.dataset.gate, the same as training.data), streamed from the
store; use `python -m training.data` for a split dataset with a data card.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

from graph.cli import fail, run_cli
from graph.queries.answers import KINDS, export_answers
from state.errors import InputError
from state.paths import clobbered_input
from training.dataset.gate import GateOptions, StoreGate, add_gate_flags, gate_options
from training.dataset.records import iter_chat_records


def export(db: Path, what: str, out: Path, gate: GateOptions | None = None) -> int:
    """Write the gated records to `out` atomically (a temporary file renamed at the end); returns the count."""
    store_gate = StoreGate.for_store(db, gate or GateOptions())  # bad options or settings fail before any write
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial(out)
    count = 0
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            for record in iter_chat_records(db, what, store_gate):  # type: ignore[arg-type]
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def partial(out: Path) -> Path:
    """The temporary file beside `out`; one left by a kill -9 is replaced by the next export to `out`."""
    return out.with_name(out.name + ".partial")


def _interrupt(*_: object) -> None:
    """SIGTERM stops an export like Ctrl-C, so the temporary file is removed on the way out."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graph.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, required=True, help="Store written by graph.run (or graph.merge).")
    parser.add_argument("--what", choices=["sr", "kd", *KINDS], required=True,
                        help="sr: refined triplets; kd: teacher answers; initial / refined: r0 / r' per prompt_id.")
    parser.add_argument("--out", type=Path, required=True, help="Output JSONL path.")
    add_gate_flags(parser)
    args = parser.parse_args(argv)
    if args.out.is_dir():
        fail(f"--out {args.out} is a directory; pass a file path such as {args.out / (args.what + '.jsonl')}")
    clash = clobbered_input([("--out", args.out), ("--out", partial(args.out))], [("--db", args.db)])
    if clash:
        fail(clash)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        count, notes = export_answers(args.db, args.what, args.out) if args.what in KINDS else (
            export(args.db, args.what, args.out, gate_options(args)), "")
    except InputError as exc:
        fail(exc.one_line())
    except sqlite3.DatabaseError as exc:
        fail(f"{args.db} could not be read ({exc}); it may be corrupt: restore it from a copy, nothing was written")
    except OSError as exc:
        fail(f"cannot write {args.out} ({exc.strerror or exc}); pass an --out in a writable directory")
    print(f"wrote {count} {args.what} records to {args.out}{notes}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
