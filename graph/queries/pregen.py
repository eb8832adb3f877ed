"""graph.queries --db: add pre-generated queries to a run store without touching anything a run wrote.

Only ids the stored run will use (its shard, below its n) that hold no query yet are generated, and a
seed or priors other than those of the queries and run already stored is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from graph.queries.given import query_source_of
from graph.store.db import Store, StoreError
from state.attributes import sample_attributes
from state.priors import Priors

CHUNK = 10_000


def check_seed(store: Store, seed: int, priors: Priors) -> None:
    """Refuse a seed (or priors) other than the stored run's, or than that of the queries already stored, and a
    store whose queries were given with graph.run --queries-from."""
    if query_source_of(store) is not None:
        raise StoreError(f"{store.path} holds queries given with graph.run --queries-from; generated queries go to "
                         "a store of their own: pass a new --db")
    run = store.run_row()
    if run is not None and run["seed"] != seed:
        raise StoreError(f"{store.path} holds a run with seed {run['seed']}; pass --seed {run['seed']} so the queries "
                         "match its attributes, or a new --db")
    row = store.conn.execute("SELECT id, attributes FROM queries ORDER BY id LIMIT 1").fetchone()
    if row is not None:
        want = json.loads(json.dumps(sample_attributes(seed, row[0], priors).model_dump()))
        if json.loads(row[1] or "null") != want:
            raise StoreError(f"{store.path} holds queries sampled with another --seed or --priors (id {row[0]} does "
                             f"not match seed {seed}); pass the ones used before, or a new --db")


def ids_to_generate(store: Store, ids: Iterable[int]) -> Iterator[int]:
    """`ids` that the stored run owns and that have no stored query, in order, checked in chunks."""
    run = store.run_row()
    index, count = (int(p) for p in run["shard"].split("/")) if run and run["shard"] else (0, 1)
    limit = run["n"] if run else None
    chunk: list[int] = []

    def fresh(batch: list[int]) -> list[int]:
        have = {r[0] for r in store.conn.execute(
            "SELECT id FROM queries WHERE id BETWEEN ? AND ?", (batch[0], batch[-1]))}
        return [i for i in batch if i not in have]

    for i in ids:
        if i % count != index or (limit is not None and i >= limit):
            continue
        chunk.append(i)
        if len(chunk) >= CHUNK:
            yield from fresh(chunk)
            chunk = []
    if chunk:
        yield from fresh(chunk)
