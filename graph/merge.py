"""python -m graph.merge runs/shard*.sqlite -o runs/all.sqlite: shard stores → one store.

The shards must hold the same run (seed, n, config) with distinct shards; the merged store equals
what one unsharded run would hold (its runs row has no shard), so graph.export and training read it.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from graph.cli import fail, run_cli
from graph.store.db import ITEM_TABLES, SCHEMA, Store, StoreError
from graph.store.owner import owned
from graph.store.resume import first_difference, identity
from state.config import RunConfig
from state.paths import clobbered_input


def merge_stores(inputs: list[Path], output: Path) -> dict[str, int]:
    """Copy every shard's items into a new store at `output`; returns row counts per table."""
    if output.exists() and output.stat().st_size > 0:  # an empty file is the new store our lock has just made
        raise StoreError(f"{output} already exists; pass a new -o path (merge never overwrites a store)")
    runs = []
    for path in inputs:
        store = Store.open(path)
        row = store.run_row()
        store.conn.close()
        if row is None:
            raise StoreError(f"{path} holds no run; only stores written by graph.run can be merged")
        runs.append((path, row))
    first_path, first = runs[0]
    base = identity(RunConfig.model_validate(first["config"]), first["seed"], first["n"], "")
    shards = set()
    for path, row in runs:
        other = identity(RunConfig.model_validate(row["config"]), row["seed"], row["n"], "")
        diff = first_difference(base, other)
        if diff:
            raise StoreError(f"{path} is a different run from {first_path} ({diff}); merge only shards of one run")
        if row["shard"] in shards:
            raise StoreError(f"{path} repeats shard {row['shard'] or '(unsharded)'}; each shard may be merged once")
        shards.add(row["shard"])
    out = Store.open(output, create=True)
    merged = False
    try:
        out.write_run(first["config"], first["seed"], first["n"], "")
        for path, row in runs:
            _copy_items(out, path, row["shard"], row["n"])
        merged = True
        return {table: out.count(table) for table in ITEM_TABLES}
    finally:
        out.conn.close()
        if not merged:  # never leave a half-merged store behind
            for suffix in ("", "-wal", "-shm"):
                Path(f"{output}{suffix}").unlink(missing_ok=True)


def _copy_items(out: Store, path: Path, shard: str, n: int) -> None:
    """Append one shard's item tables in one transaction; an id already present is an error. Only the
    shard's own ids are copied: queries pre-generated (graph.queries --db) for other shards stay behind."""
    index, count = (int(p) for p in shard.split("/")) if shard else (0, 1)
    out.conn.execute("ATTACH DATABASE ? AS shard", (str(path),))
    try:
        with out.conn:
            out.conn.execute("BEGIN IMMEDIATE")
            for table in ITEM_TABLES:
                cols = ", ".join(SCHEMA[table])
                out.conn.execute(f"INSERT INTO main.[{table}] ({cols}) SELECT {cols} FROM shard.[{table}] "
                                 "WHERE id % ? = ? AND id < ?", (count, index, n))
    except sqlite3.IntegrityError:
        raise StoreError(f"{path} has query ids that another shard also has; were the shards run with the same --shard?") from None
    finally:
        out.conn.execute("DETACH DATABASE shard")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graph.merge", description=__doc__)
    parser.add_argument("inputs", nargs="+", type=Path, help="Shard stores written by graph.run --shard i/N.")
    parser.add_argument("-o", "--out", type=Path, required=True, help="New store to write.")
    args = parser.parse_args(argv)
    missing = [p for p in args.inputs if not p.exists()]
    if missing:
        fail(f"{missing[0]} does not exist; check the shard paths")
    clash = clobbered_input([("-o", args.out)], [("input", p) for p in args.inputs])
    if clash:
        fail(clash)
    if args.out.exists():  # checked before the lock, which creates the file
        fail(f"{args.out} already exists; pass a new -o path (merge never overwrites a store)")
    with owned(args.out, "graph.merge"):
        counts = merge_stores(args.inputs, args.out)
    print(f"merged {len(args.inputs)} stores into {args.out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
