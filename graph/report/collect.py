"""The report's figures from SQL aggregates: outcome, facets and the user-context breakdown.

Each function makes one streaming pass (GROUP BY in SQLite, rows folded as they arrive), so memory
depends on the number of distinct groups, never on the number of stored results.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from typing import Any

from graph.report.figures import marginals, share, wilson

ATTRIBUTES = ("role", "vagueness", "completeness", "style", "intent", "country", "setting")
# JSON columns may be NULL or empty in a hand-made or half-written store; read them as empty then.
RATIONALES = "json_each(CASE WHEN json_valid(r.rationales) THEN r.rationales ELSE '{}' END) f"
PARSE_ERROR = ("(CASE WHEN json_valid(r.facet_raw) THEN json_extract(r.facet_raw, '$.\"' || f.key || '\".parse_error') "
               "END IS NOT NULL)")


def run_info(conn: sqlite3.Connection) -> dict[str, Any]:
    """The stored run row: seed, n, shard, refiner, facets, model."""
    row = conn.execute("SELECT config, seed, n, shard, version, created FROM runs LIMIT 1").fetchone()
    if row is None:
        return {"n": None, "facets": []}
    try:
        config = json.loads(row[0] or "{}")
    except json.JSONDecodeError:
        config = {}
    return {"seed": row[1], "n": row[2], "shard": row[3] or None, "version": row[4], "created": row[5],
            "refiner": config.get("refiner"), "facets": list(config.get("facets") or []),
            "model": (config.get("endpoint") or {}).get("model")}


def outcome(conn: sqlite3.Connection, expected: int | None) -> dict[str, Any]:
    """Results kept/dropped by reason, refined vs skipped, failures by stage and error class."""
    results = kept = refined = 0
    dropped: dict[str, dict[str, int]] = {}
    for is_kept, reason, is_refined, n, example in conn.execute(
            "SELECT kept, coalesce(filter_reason, ''), refined, count(*), min(id) FROM results GROUP BY 1, 2, 3"):
        results += n
        refined += n if is_refined else 0
        if is_kept:
            kept += n
        else:
            cell = dropped.setdefault(reason or "unknown", {"count": 0, "example_id": example})
            cell["count"] += n
            cell["example_id"] = min(cell["example_id"], example)
    failures = [{"stage": s, "error_class": e, "count": n, "example_id": ex} for s, e, n, ex in conn.execute(
        "SELECT stage, error_class, count(*), min(id) FROM failures GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2")]
    failed = sum(f["count"] for f in failures)
    return {
        "expected": expected, "results": results, "failures": failed,
        "pending": None if expected is None else max(0, expected - results - failed),
        "kept": wilson(kept, results), "dropped": dict(sorted(dropped.items(), key=lambda kv: -kv[1]["count"])),
        "refined": refined, "skipped": results - refined, "refined_share": share(refined, results),
        "failures_by": failures,
    }


def facets(conn: sqlite3.Connection, top: int) -> dict[str, Any]:
    """Per facet: lacking / N/A / parse failure shares, rationales per answer, length change by
    rationale count, the commonest rationale openings, and a kept example where it fired."""
    out: dict[str, Any] = {}
    # LIMIT -1 keeps SQLite from flattening the subquery, so words() runs once per result, not per facet
    rows = ("(SELECT id, rationales, facet_raw, refined, kept, CASE WHEN refined THEN words(refined_answer) - "
            "words(answer) ELSE 0 END AS delta FROM results LIMIT -1) r")
    sql = (f"SELECT f.key, json_array_length(f.value) AS c, {PARSE_ERROR} AS pe, count(*), sum(r.refined), "
           "sum(r.delta), min(CASE WHEN r.refined AND r.kept THEN r.id END) "
           f"FROM {rows}, {RATIONALES} GROUP BY 1, 2, 3")
    for facet, count, pe, n, n_refined, delta, example in conn.execute(sql):
        cell = out.setdefault(facet, {"evaluated": 0, "lacking": 0, "na": 0, "parse_failed": 0,
                                      "rationale_counts": Counter(), "by_count": {}, "example_id": None})
        cell["evaluated"] += n
        if pe:
            cell["parse_failed"] += n
            continue
        cell["rationale_counts"][count] += n
        if count:
            cell["lacking"] += n
            if example is not None:
                cell["example_id"] = example if cell["example_id"] is None else min(cell["example_id"], example)
        else:
            cell["na"] += n
        by = cell["by_count"].setdefault(count, [0, 0])
        by[0] += n_refined
        by[1] += delta
    openings = top_openings(conn, top)
    for facet, cell in out.items():
        readable = cell["evaluated"] - cell["parse_failed"]
        cell["lacking_rate"] = wilson(cell["lacking"], readable)
        cell["na_share"] = share(cell["na"], cell["evaluated"])
        cell["parse_failed_share"] = share(cell["parse_failed"], cell["evaluated"])
        cell["rationale_counts"] = {str(c): n for c, n in sorted(cell["rationale_counts"].items())}
        cell["by_count"] = [{"rationales": c, "refined": nr, "mean_delta_words": (d / nr if nr else None)}
                            for c, (nr, d) in sorted(cell["by_count"].items())]
        cell["openings"] = openings.get(facet, [])
    return dict(sorted(out.items()))


def top_openings(conn: sqlite3.Connection, top: int) -> dict[str, list[dict[str, Any]]]:
    """The `top` commonest rationale openings per facet, with their share of the facet's rationales."""
    totals = dict(conn.execute(
        f"SELECT f.key, sum(json_array_length(f.value)) FROM results r, {RATIONALES} GROUP BY 1").fetchall())
    sql = ("SELECT facet, op, n, ex FROM (SELECT f.key AS facet, opening(l.value) AS op, count(*) AS n, "
           "min(r.id) AS ex, row_number() OVER (PARTITION BY f.key ORDER BY count(*) DESC, opening(l.value)) AS rk "
           f"FROM results r, {RATIONALES}, json_each(CASE WHEN json_type(f.value) = 'array' THEN f.value "
           "ELSE '[]' END) l GROUP BY 1, 2) WHERE rk <= ? ORDER BY facet, rk")
    out: dict[str, list[dict[str, Any]]] = {}
    for facet, op, n, example in conn.execute(sql, (top,)):
        out.setdefault(facet, []).append({"opening": op, "count": n, "share": share(n, totals.get(facet) or 0),
                                          "example_id": example})
    return out


def home_country(conn: sqlite3.Connection) -> str | None:
    """The most frequent country among the results (the prior's home country, 80% by default)."""
    row = conn.execute("SELECT json_extract(q.attributes, '$.country') AS c, count(*) FROM results r "
                       "JOIN queries q ON q.id = r.id WHERE json_valid(q.attributes) GROUP BY 1 "
                       "ORDER BY 2 DESC, 1 LIMIT 1").fetchone()
    return row[0] if row else None


def context(conn: sqlite3.Connection) -> dict[str, Any]:
    """Facet trigger rates (with 95% Wilson intervals and n) for each value of each sampled attribute.

    n counts readable verdicts (parse failures are left out); country is "home" (the commonest
    country) or "other". One pass groups by every attribute at once; marginals() sums the cells.
    """
    home = home_country(conn)
    cols = [f"json_extract(q.attributes, '$.{a}')" for a in ATTRIBUTES]
    cols[ATTRIBUTES.index("country")] = f"CASE WHEN {cols[ATTRIBUTES.index('country')]} = ? THEN 'home' ELSE 'other' END"
    sql = (f"SELECT {', '.join(cols)}, f.key, sum(NOT {PARSE_ERROR}), "
           f"sum(NOT {PARSE_ERROR} AND json_array_length(f.value) > 0) "
           f"FROM results r JOIN queries q ON q.id = r.id, {RATIONALES} WHERE json_valid(q.attributes) "
           f"GROUP BY {', '.join(str(i + 1) for i in range(len(ATTRIBUTES) + 1))}")
    cells = ((dict(zip(ATTRIBUTES, row[:-3], strict=True)), row[-3], int(row[-2] or 0), int(row[-1] or 0))
             for row in conn.execute(sql, (home,)))
    return {"home_country": home, "attributes": marginals(cells, ATTRIBUTES)}
