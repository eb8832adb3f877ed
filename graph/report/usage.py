"""The report's figures from SQL aggregates: refinement effect, tokens/latency/cost, teacher answers."""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import Any

from graph.report.figures import LOG_BUCKETS_PER_E, cost_usd, describe, latency_percentiles, share, wilson
from graph.report.source import has_table

BUCKET = f"CAST(round(ln(max(coalesce({{col}}, 0), 0.01)) * {LOG_BUCKETS_PER_E}) AS INTEGER)"
CALL_BUCKET = BUCKET.format(col="json_extract(c.value, '$.latency_ms')")
CALLS = ("json_each(CASE WHEN json_valid(r.usage) THEN CASE WHEN json_type(r.usage, '$.calls') = 'array' "
         "THEN json_extract(r.usage, '$.calls') END END) c")


def refinement(conn: sqlite3.Connection) -> dict[str, Any]:
    """Answer length r0 → r' (words) and the share asking the user a question, over refined results;
    r' length over all results too (the backbone's figure next to the teacher's)."""
    r0: Counter[int] = Counter()
    r1: Counter[int] = Counter()
    delta: Counter[int] = Counter()
    final: Counter[int] = Counter()
    asks0 = asks1 = 0
    sql = ("SELECT refined, w0, w1, count(*), sum(a0), sum(a1) FROM (SELECT refined, words(answer) AS w0, "
           "words(refined_answer) AS w1, asks(answer) AS a0, asks(refined_answer) AS a1 FROM results) GROUP BY 1, 2, 3")
    for refined, w0, w1, n, a0, a1 in conn.execute(sql):
        final[w1] += n
        if refined:
            r0[w0] += n
            r1[w1] += n
            delta[w1 - w0] += n
            asks0 += a0
            asks1 += a1
    n_refined = sum(r0.values())
    return {
        "refined": n_refined, "words_r0": describe(r0), "words_r1": describe(r1), "delta_words": describe(delta),
        "asks_question_r0": wilson(asks0, n_refined), "asks_question_r1": wilson(asks1, n_refined),
        "words_final_all": describe(final),
        "hist": {"r0": sorted(r0.items()), "r1": sorted(r1.items()), "delta": sorted(delta.items())},
    }


def cost(conn: sqlite3.Connection, kept: int, price_in: float | None, price_out: float | None) -> dict[str, Any]:
    """Tokens and latency percentiles per node (from every stored call), totals, per kept triplet and,
    with prices (per million tokens), dollars. The query-generation call counts where it is stored (node
    `query`, since schema 2; ids with pre-generated queries and older stores have none)."""
    nodes: dict[str, dict[str, Any]] = {}
    sql = (f"SELECT json_extract(c.value, '$.node'), {CALL_BUCKET}, "
           "count(*), sum(coalesce(json_extract(c.value, '$.prompt_tokens'), 0)), "
           "sum(coalesce(json_extract(c.value, '$.completion_tokens'), 0)) "
           f"FROM results r, {CALLS} GROUP BY 1, 2")
    for node, bucket, n, p, c in conn.execute(sql):
        cell = nodes.setdefault(str(node), {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "buckets": Counter()})
        cell["calls"] += n
        cell["prompt_tokens"] += p
        cell["completion_tokens"] += c
        cell["buckets"][bucket] += n
    rows = [{"node": node, "calls": v["calls"], "prompt_tokens": v["prompt_tokens"],
             "completion_tokens": v["completion_tokens"], "latency_ms": latency_percentiles(v["buckets"])}
            for node, v in sorted(nodes.items())]
    item = Counter(dict(conn.execute(f"SELECT {BUCKET.format(col='latency_ms')}, count(*) FROM results GROUP BY 1")))
    prompt = sum(r["prompt_tokens"] for r in rows)
    completion = sum(r["completion_tokens"] for r in rows)
    out: dict[str, Any] = {
        "nodes": rows, "item_latency_ms": latency_percentiles(item),
        "total": {"prompt_tokens": prompt, "completion_tokens": completion},
        "per_kept": {"prompt_tokens": share(prompt, kept), "completion_tokens": share(completion, kept)},
        "price": None,
    }
    if price_in is not None and price_out is not None:
        total = cost_usd(prompt, completion, price_in, price_out)
        out["price"] = {"in_per_million": price_in, "out_per_million": price_out, "total_usd": total,
                        "per_kept_usd": share(total, kept) if kept else None}  # type: ignore[arg-type]
    return out


def teacher(conn: sqlite3.Connection, price_in: float | None, price_out: float | None) -> dict[str, Any] | None:
    """Teacher answers' kept rate, drops, length and tokens; None when the run stored none."""
    if not has_table(conn, "teacher"):
        return None
    words: Counter[int] = Counter()
    dropped: Counter[str] = Counter()
    kept = n = 0
    for is_kept, reason, w, count in conn.execute(
            "SELECT kept, coalesce(filter_reason, ''), words(answer), count(*) FROM teacher GROUP BY 1, 2, 3"):
        n += count
        words[w] += count
        if is_kept:
            kept += count
        else:
            dropped[reason or "unknown"] += count
    if n == 0:
        return None
    p, c = conn.execute(
        "SELECT sum(coalesce(json_extract(usage, '$.prompt_tokens'), 0)), "
        "sum(coalesce(json_extract(usage, '$.completion_tokens'), 0)) "
        "FROM teacher WHERE json_valid(usage)").fetchone()
    lat = Counter(dict(conn.execute(f"SELECT {BUCKET.format(col='latency_ms')}, count(*) FROM teacher GROUP BY 1")))
    out: dict[str, Any] = {"answers": n, "kept": wilson(kept, n), "dropped": dict(dropped.most_common()),
                           "words": describe(words), "prompt_tokens": p or 0, "completion_tokens": c or 0,
                           "latency_ms": latency_percentiles(lat), "hist": sorted(words.items())}
    if price_in is not None and price_out is not None:
        out["total_usd"] = cost_usd(p or 0, c or 0, price_in, price_out)
    return out
