"""python -m graph.trace: watch one query go through the self-refinement graph, node by node.

  python -m graph.trace --query "My 3 year old has had a fever of 39.5 for two days..." --base-url URL
  python -m graph.trace --query "..." --refiner contgen --facets decision,safety
  python -m graph.trace --query-file question.txt --base-url URL   # a long query from a file
  python -m graph.trace --config my.yaml --query "..." --json      # machine-readable trace
  python -m graph.trace --mermaid                                   # the graph's diagram
  python -m graph.trace --db runs/main.sqlite --id 3               # a stored result of graph.run
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from graph.cli import add_run_args, arun, endpoints, fail, resolve_from_args
from graph.trace import render
from nodes.llm.factory import make_client
from state.config import RunConfig

MAX_QUERY_CHARS = 100_000


def jsonable(value: Any) -> Any:
    """pydantic models (and lists/dicts of them) as plain JSON data."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


async def run_trace(config: RunConfig, query: str, attributes: dict[str, Any] | None,
                    on_update: Any = None) -> dict[str, Any]:
    """Run one graph, calling on_update(node, update) as each node finishes; returns the final state as JSON data."""
    client = make_client(config, concurrency=8)
    try:
        model = await client.model_name()
        # langgraph is imported only once the endpoint answered: bad flags and dead servers fail fast.
        from graph.build import build_graph

        graph = build_graph(config, client)
        state: dict[str, Any] = {"query": query, "attributes": attributes, "verdicts": [], "calls": []}
        async for chunk in graph.astream({"query": query, "attributes": attributes}, stream_mode="updates"):
            for node, update in chunk.items():
                update = jsonable(update or {})
                for key, value in update.items():
                    if key in ("verdicts", "calls"):
                        state[key].extend(value)
                    else:
                        state[key] = value
                if on_update is not None:
                    on_update(node, update)
        state["model"] = model
        return state
    finally:
        await client.aclose()


def stored_state(db: str, item_id: int | None) -> dict[str, Any]:
    """A graph.run result rebuilt into the trace's state shape (item_id None: the first stored result)."""
    from graph.store.db import Store

    store = Store.open(db)
    try:
        if item_id is None:
            first = store.conn.execute("SELECT min(id) FROM results").fetchone()[0]
            item_id = first if first is not None else 0
        row = store.trace(item_id)
        run = store.run_row() or {"config": {}}
    finally:
        store.conn.close()
    if row is None:
        fail(f"id {item_id} is not in {db}; pick an id from its results or failures table")
    query = row.get("queries", {})
    state: dict[str, Any] = {"id": item_id, "query": query.get("query", ""), "attributes": query.get("attributes")}
    if "results" in row:
        r = row["results"]
        state["generation"] = {"reasoning": r["reasoning"], "answer": r["answer"], "finish_reason": None}
        raw = r.get("facet_raw") or {}
        state["verdicts"] = [{"facet": f, "rationales": lines, "raw": raw.get(f, {}).get("raw", ""),
                              "parse_error": raw.get(f, {}).get("parse_error")} for f, lines in (r["rationales"] or {}).items()]
        state["merged_reasoning"] = r["refined_reasoning"]
        method = run["config"].get("refiner", "directref") if r["refined"] else "skipped"
        state["refinement"] = {"reasoning": r["refined_reasoning"], "answer": r["refined_answer"], "refined": bool(r["refined"]), "method": method}
        state["verdict"] = {"kept": bool(r["kept"]), "reason": r["filter_reason"], "words": len((r["refined_answer"] or "").split())}
        state["calls"] = (r["usage"] or {}).get("calls", [])
    if "failures" in row:
        state["failure"] = row["failures"]
    if "teacher" in row:
        state["teacher"] = row["teacher"]
    return state


def print_state(console: Console, state: dict[str, Any]) -> None:
    console.print(render.header(state["query"], state.get("attributes")))
    if "generation" in state:
        console.print(render.node_update("generate", {"generation": state["generation"]}))
        for v in state["verdicts"]:
            console.print(render.node_update(f"eval_{v['facet']}", {"verdicts": [v]}))
        merge_update: dict[str, Any] = {"merged_reasoning": state["merged_reasoning"]}
        if not state["refinement"]["refined"]:
            merge_update["refinement"] = state["refinement"]
        console.print(render.node_update("merge", merge_update))
        if state["refinement"]["refined"]:
            node = f"refine_{state['refinement']['method']}"
            console.print(render.node_update(node, {"refinement": state["refinement"]}))
        console.print(render.node_update("filter", {"verdict": state["verdict"]}))
        console.print(render.summary(state))
    if "failure" in state:
        f = state["failure"]
        console.print(render.safe(f"failed at {f['stage']}: {f['error_class']}: {f['message']}", "bold red"))


def query_text(query: str | None, path: Path | None) -> str:
    """The query from --query or --query-file, checked to be non-empty UTF-8 text."""
    if query is not None and path is not None:
        fail("pass either --query or --query-file, not both")
    if path is not None:
        try:
            query = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            fail(f"--query-file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8")
        except OSError as exc:
            fail(f"--query-file {path} cannot be read ({exc.strerror}); check the path")
    elif query is not None:
        try:
            query.encode("utf-8")
        except UnicodeEncodeError:  # undecodable argv bytes arrive as lone surrogates
            fail("--query is not valid UTF-8 text; fix the terminal's encoding or use --query-file")
    if not query or not query.strip():
        fail("--query (or --query-file) is required (the medical question to refine); or use --db/--mermaid")
    return query


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graph.trace", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--query", help="The medical query to refine.")
    parser.add_argument("--query-file", type=Path, metavar="PATH", help="Read the query from this UTF-8 text file.")
    parser.add_argument("--json", action="store_true", help="Print the whole trace as JSON instead of panels.")
    parser.add_argument("--mermaid", action="store_true", help="Print the graph's Mermaid diagram and exit.")
    parser.add_argument("--db", help="Show a stored result from this graph.run store instead of running.")
    parser.add_argument("--id", type=int, help="Query id to show with --db (default: the first stored result).")
    add_run_args(parser)
    args = parser.parse_args(argv)
    console = Console(stderr=False, highlight=False)

    if args.mermaid:
        from graph.build import mermaid

        print(mermaid(resolve_from_args(args)))
        return 0
    if args.db:
        state = stored_state(args.db, args.id)
        if args.json:
            print(json.dumps(state, indent=2, ensure_ascii=False))
        else:
            print_state(console, state)
        return 0
    args.query = query_text(args.query, args.query_file)
    if len(args.query) > MAX_QUERY_CHARS:
        fail(f"--query is {len(args.query)} characters; the limit is {MAX_QUERY_CHARS}")
    config = resolve_from_args(args)
    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else console.log
    with endpoints(config.endpoint.base_urls, log) as (urls, embedded):
        if embedded:
            config = resolve_from_args(args, base_urls=urls, embedded=embedded)
        if args.json:
            state = arun(run_trace(config, args.query, None))
            state["config"] = config.model_dump(mode="json")
            print(json.dumps(state, indent=2, ensure_ascii=False))
            return 0
        console.print(render.header(args.query, None))

        def show(node: str, update: dict[str, Any]) -> None:
            panel = render.node_update(node, update)
            if panel is not None:
                console.print(panel)

        state = arun(run_trace(config, args.query, None, on_update=show))
        console.print(render.summary(state))
    return 0

