"""`graph.run --dry-run`: what a run would do, with no server and nothing written. Ids to run, calls per
stage, a completion-token ceiling from each node's max_tokens, a typical figure from the prompt templates'
lengths and typical answer lengths, and with prices the cost of both; for sizing a run before renting GPUs."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prompts.loader import load_prompt
from state.config import NodeName, RunConfig

CHARS_PER_TOKEN = 4  # English text in a BPE vocabulary: a rough, documented estimate
# Typical completion tokens per call (the text a node writes when it is not cut off), and the texts an
# earlier node hands on: the query, the answer r0 with its reasoning, the facets' rationales.
TYPICAL_OUT: dict[NodeName, int] = {"query": 60, "generate": 900, "evaluate": 150, "refine": 700, "teacher": 900}
PROMPTS: dict[str, str] = {"query": "query_generation", "evaluate": "eval_decision", "refine": "refine_directref"}


@dataclass(frozen=True)
class StageLine:
    """One stage of the plan: calls, typical prompt tokens, completion ceiling and typical completion."""

    stage: str
    calls: int
    prompt_typical: int
    completion_ceiling: int
    completion_typical: int


def stored_run(db: Path) -> tuple[dict[str, Any] | None, set[int], set[int]]:
    """(run row config/seed/n/shard, ids with an outcome, ids with a stored query) of an existing store, read
    only (never created, upgraded or locked); (None, ∅, ∅) when there is no store."""
    if not db.is_file() or db.stat().st_size == 0:
        return None, set(), set()
    import json

    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT config, seed, n, shard FROM runs LIMIT 1").fetchone()
        done = {r[0] for r in conn.execute("SELECT id FROM results UNION SELECT id FROM failures")}
        queried = {r[0] for r in conn.execute("SELECT id FROM queries WHERE coalesce(query, '') != ''")}
    except sqlite3.DatabaseError:
        return None, set(), set()
    finally:
        conn.close()
    run = {"config": json.loads(row[0]), "seed": row[1], "n": row[2], "shard": row[3]} if row else None
    return run, done, queried


def template_tokens(config: RunConfig, stage: str) -> int:
    name = PROMPTS.get(stage)
    if name is None:
        return 0
    return len(load_prompt(name, config.prompts_dir, config.prompt_set).text) // CHARS_PER_TOKEN


def plan(config: RunConfig, ids: list[int], queried: set[int]) -> list[StageLine]:
    """The per-stage figures for running `ids` (those in `queried` need no query-generation call)."""
    n = len(ids)
    new_queries = sum(1 for i in ids if i not in queried)
    out_typ = {node: min(TYPICAL_OUT[node], config.sampling_for(node).max_tokens) for node in TYPICAL_OUT}
    query, answer = out_typ["query"], out_typ["generate"]
    carried = {"query": 0, "generate": query, "evaluate": query + answer,
               "refine": query + answer + len(config.facets) * out_typ["evaluate"], "teacher": query}
    counts: dict[NodeName, int] = {"query": new_queries, "generate": n, "evaluate": n * len(config.facets),
                                   "refine": n, "teacher": n if config.teacher is not None else 0}
    lines = []
    for node, calls in counts.items():
        if calls == 0:
            continue
        prompt = template_tokens(config, node) + carried[node]
        lines.append(StageLine(node, calls, calls * prompt, calls * config.sampling_for(node).max_tokens,
                               calls * out_typ[node]))
    return lines


def cost(prompt: int, completion: int, price_in: float, price_out: float) -> float:
    return (prompt * price_in + completion * price_out) / 1_000_000


def render(lines: list[StageLine], ids: list[int], n: int, already: int, head: str,
           prices: tuple[float, float] | None) -> str:
    """The plan as the lines `graph.run --dry-run` prints."""
    shown = ", ".join(map(str, ids[:5])) + (f", …, {ids[-1]}" if len(ids) > 5 else "")
    out = [head, f"ids: {len(ids)} to run ({shown or 'none'}), {already} of the {n} already stored",
           f"{'stage':<9}{'calls':>14}{'prompt tokens (typical)':>26}{'completion ceiling':>22}{'completion typical':>22}"]
    for ln in lines:
        out.append(f"{ln.stage:<9}{ln.calls:>14,}{ln.prompt_typical:>26,}{ln.completion_ceiling:>22,}"
                   f"{ln.completion_typical:>22,}")
    tp, tc, tt = (sum(getattr(ln, f) for ln in lines) for f in ("prompt_typical", "completion_ceiling",
                                                                 "completion_typical"))
    out.append(f"{'total':<9}{sum(ln.calls for ln in lines):>14,}{tp:>26,}{tc:>22,}{tt:>22,}")
    out.append("ceiling: every call writes up to its max_tokens; typical: prompt templates (~4 characters a token) "
               f"and typical answer lengths ({', '.join(f'{k} {v}' for k, v in TYPICAL_OUT.items())} tokens)")
    if prices is not None:
        pin, pout = prices
        out.append(f"cost at ${pin:g} in / ${pout:g} out per million tokens: ceiling ${cost(tp, tc, pin, pout):,.2f}, "
                   f"typical ${cost(tp, tt, pin, pout):,.2f}")
    return "\n".join(out)


def dry_run(args: Any, extra: dict[str, Any]) -> str:
    """The plan of `graph.run` as `args` would run it: the stored run's settings when --db holds one, the
    small profile when no server is named (the embedded model's)."""
    from graph.cli import fail, resolve_from_args
    from state.profiles import SMALL_PROFILE

    if (args.price_in is None) != (args.price_out is None):
        fail("pass both --price-in and --price-out (USD per million tokens), or neither")
    if any(p is not None and p < 0 for p in (args.price_in, args.price_out)):
        fail("--price-in and --price-out are USD per million tokens: numbers ≥ 0")
    run, done, queried = stored_run(args.db)
    if run is None and args.n is None:
        fail(f"{args.db} holds no run yet; pass --n N to plan one")
    n = args.n if args.n is not None else run["n"]  # type: ignore[index]
    seed = args.seed if args.seed is not None else (run["seed"] if run else 0)
    shard = args.shard if args.shard is not None else (run["shard"] if run else "")
    index, count = (int(p) for p in shard.split("/")) if shard else (0, 1)
    base = run["config"] if run else None
    if base is None and not args.base_urls:
        base = {**SMALL_PROFILE, "profile": "small"}
    config = resolve_from_args(args, extra=extra, base=base)
    ids = [i for i in range(index, n, count) if i not in done]
    where = ",".join(config.endpoint.base_urls) or "the embedded model"
    head = (f"dry run (no server asked, nothing written): n={n} seed={seed} shard={shard or '-'} "
            f"profile={config.profile} refiner={config.refiner} facets={','.join(config.facets)} on {where}")
    prices = (args.price_in, args.price_out) if args.price_in is not None else None
    return render(plan(config, ids, queried), ids, len(range(index, n, count)), len(range(index, n, count)) - len(ids),
                  head, prices)
