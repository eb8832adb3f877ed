"""graph.export --what initial|refined: a store of given queries → `{"prompt_id", "response"}` lines (r0 or r'),
ready for `eval.healthbench --responses`.

No example is dropped: a failed graph is written as an empty response with a note (it scores no positive
rubric item), and for `refined` an example whose refinement was skipped (every facet N/A) gets r0, as the
method defines, with a note saying so. An unfinished run is refused, since grading it would mix in gaps.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from graph.queries.given import query_source_of
from graph.store.db import Store, StoreError

KINDS = ("initial", "refined")
SKIPPED_NOTE = "refinement skipped (every facet N/A): r0 stands in for r'"


def _check(store: Store, db: Path) -> None:
    if query_source_of(store) is None:
        raise StoreError(f"{db} holds generated queries, which no benchmark grades; --what initial|refined exports "
                         "runs made with graph.run --queries-from (use --what sr or kd for training records)")
    run = store.run_row()
    if run is None:
        raise StoreError(f"{db} holds no run; start one with python -m graph.run --queries-from FILE --db {db}")
    index, count = (int(p) for p in run["shard"].split("/")) if run["shard"] else (0, 1)
    expected = len(range(index, run["n"], count))
    done = store.count("results") + store.count("failures")
    if done < expected:
        raise StoreError(f"{db}: {expected - done} of {expected} queries have no outcome yet; finish the run "
                         f"(python -m graph.run --db {db}) before exporting")


def iter_answers(store: Store, what: str) -> Iterator[tuple[dict[str, Any], str]]:
    """(line, tally key) per query in id order; the key is "answer", "not_refined" or "failed"."""
    sql = ("SELECT q.id, q.attributes, r.answer, r.refined_answer, r.refined, f.stage, f.error_class "
           "FROM queries q LEFT JOIN results r ON r.id = q.id LEFT JOIN failures f ON f.id = q.id ORDER BY q.id")
    for item_id, attributes, r0, r1, refined, stage, error in store.conn.execute(sql):
        prompt_id = str((json.loads(attributes or "null") or {}).get("prompt_id", item_id))
        if r0 is None:
            note = f"no answer: the graph failed at {stage} ({error}); see python -m graph.trace --id {item_id}"
            yield {"prompt_id": prompt_id, "response": "", "note": note}, "failed"
        elif what == "refined" and not refined:
            yield {"prompt_id": prompt_id, "response": r0, "note": SKIPPED_NOTE}, "not_refined"
        else:
            yield {"prompt_id": prompt_id, "response": r1 if what == "refined" else r0}, "answer"


def export_answers(db: Path, what: str, out: Path) -> tuple[int, str]:
    """Write the lines to `out` atomically; returns (count, what the notes say, for the summary line)."""
    store = Store.open(db)
    tally: Counter[str] = Counter()
    tmp = out.with_name(out.name + ".partial")
    try:
        _check(store, db)
        out.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", encoding="utf-8") as fh:
            for line, key in iter_answers(store, what):
                fh.write(json.dumps(line, ensure_ascii=False) + "\n")
                tally[key] += 1
        os.replace(tmp, out)
    finally:
        store.conn.close()
        tmp.unlink(missing_ok=True)
    notes = []
    if tally["not_refined"]:
        notes.append(f"{tally['not_refined']} not refined (every facet N/A): r0 stands in, noted")
    if tally["failed"]:
        notes.append(f"{tally['failed']} failed graphs written as empty responses, noted")
    return sum(tally.values()), "; " + "; ".join(notes) if notes else ""
