"""A seeded sample of stored items for report.html, read by id so a 1M-row store costs N point lookups.

Random ids are drawn in [min id, max id] and each is moved to the next stored id (the primary key), so
memory and time depend on the sample size, never on the number of results. The gallery of dropped items
takes a few per drop reason in one pass over the dropped ids, ordered by a seeded hash of the id.
"""

from __future__ import annotations

import json
import random
import sqlite3
from typing import Any

DEFAULT_EXAMPLES = 50
MAX_EXAMPLES = 10_000  # the page holds every sampled text; past this it is no longer readable
GALLERY_PER_REASON = 3
# Probes per wanted example before giving up (a sparse id range may return the same id again).
PROBES_PER_EXAMPLE = 4
COLUMNS = ("r.id, q.query, q.attributes, r.reasoning, r.answer, r.rationales, r.facet_raw, r.refined_reasoning, "
           "r.refined_answer, r.refined, r.kept, r.filter_reason, r.usage, r.latency_ms")


def _json(text: Any) -> Any:
    try:
        return json.loads(text) if text else None
    except (TypeError, json.JSONDecodeError):
        return None


def sample_ids(conn: sqlite3.Connection, n: int, seed: int) -> list[int]:
    """Up to `n` distinct stored result ids, the same ones for the same store and seed, ascending."""
    # two queries: SQLite answers a lone min() or max() from the primary key, but both at once by a full scan
    lo = conn.execute("SELECT min(id) FROM results").fetchone()[0]
    hi = conn.execute("SELECT max(id) FROM results").fetchone()[0]
    if lo is None or n <= 0:
        return []
    rng = random.Random(f"graph.report examples {seed}")
    chosen: set[int] = set()
    for _ in range(n * PROBES_PER_EXAMPLE):
        if len(chosen) >= n:
            break
        row = conn.execute("SELECT id FROM results WHERE id >= ? ORDER BY id LIMIT 1", (rng.randint(lo, hi),)).fetchone()
        chosen.add(row[0])
    if len(chosen) < n:  # a small or clustered store: fill up in id order, still by the primary key
        for (item_id,) in conn.execute("SELECT id FROM results ORDER BY id LIMIT ?", (n * 2,)):
            if len(chosen) >= n:
                break
            chosen.add(item_id)
    return sorted(chosen)


def gallery_ids(conn: sqlite3.Connection, per_reason: int, seed: int) -> dict[str, list[int]]:
    """A few dropped ids per drop reason, picked by a seeded hash of the id (one pass over dropped rows)."""
    # h is a multiplicative hash of the id; XOR with a seeded mask, (h | m) - (h & m), reorders it per seed
    sql = ("SELECT reason, id FROM (SELECT reason, id, row_number() OVER (PARTITION BY reason "
           "ORDER BY (h | :m) - (h & :m), id) AS rk FROM (SELECT coalesce(nullif(filter_reason, ''), 'unknown') "
           "AS reason, id, (id * 2654435761) % 4294967311 AS h FROM results WHERE NOT kept)) "
           "WHERE rk <= :k ORDER BY reason, id")
    params = {"m": random.Random(f"graph.report gallery {seed}").getrandbits(32), "k": per_reason}
    out: dict[str, list[int]] = {}
    for reason, item_id in conn.execute(sql, params):
        out.setdefault(reason, []).append(item_id)
    return out


def load(conn: sqlite3.Connection, ids: list[int], refiner: str | None) -> list[dict[str, Any]]:
    """The stored texts and verdict of each id, decoded into one dict per item (ids not stored are skipped)."""
    out = []
    for item_id in ids:
        row = conn.execute(f"SELECT {COLUMNS} FROM results r LEFT JOIN queries q ON q.id = r.id WHERE r.id = ?",
                           (item_id,)).fetchone()
        if row is not None:
            out.append(_item(row, refiner))
    return out


def _item(row: tuple[Any, ...], refiner: str | None) -> dict[str, Any]:
    (item_id, query, attributes, reasoning, answer, rationales, facet_raw, refined_reasoning, refined_answer,
     refined, kept, reason, usage, latency_ms) = row
    raw = _json(facet_raw) or {}
    facets = []
    for facet, lines in (_json(rationales) or {}).items():
        error = (raw.get(facet) or {}).get("parse_error") if isinstance(raw, dict) else None
        facets.append({"facet": facet, "rationales": [str(x) for x in lines or []] if isinstance(lines, list) else [],
                       "parse_error": error})
    usage = _json(usage) or {}
    calls = usage.get("calls") or []
    for key in ("prompt_tokens", "completion_tokens"):  # a store may hold only the per-call counts
        if usage.get(key) is None and calls:
            usage[key] = sum(int(c.get(key) or 0) for c in calls)
    attributes = _json(attributes)
    return {
        "id": item_id, "query": query or "", "attributes": attributes if isinstance(attributes, dict) else {},
        "reasoning": reasoning or "", "answer": answer or "", "facets": facets,
        "refined_reasoning": refined_reasoning or "", "refined_answer": refined_answer or "",
        "refined": bool(refined), "refiner": (refiner or "refined") if refined else "skipped",
        "kept": bool(kept), "reason": None if kept else (reason or "unknown"),
        "prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": usage.get("completion_tokens"),
        "latency_ms": latency_ms,
    }


def collect(conn: sqlite3.Connection, n: int, seed: int, refiner: str | None) -> dict[str, Any]:
    """{"sample": [...], "gallery": {reason: [...]}} for the page; nothing when n is 0."""
    if n <= 0:
        return {"sample": [], "gallery": {}}
    gallery = {reason: load(conn, ids, refiner) for reason, ids in gallery_ids(conn, GALLERY_PER_REASON, seed).items()}
    return {"sample": load(conn, sample_ids(conn, n, seed), refiner), "gallery": gallery}
