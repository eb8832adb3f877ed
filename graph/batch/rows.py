"""The rows the batch writes: a finished graph's `results` row and a teacher's `teacher` row."""

from __future__ import annotations

import json
from typing import Any

from nodes.filter import judge
from nodes.gate.rules import Settings
from nodes.parsing import split_reasoning
from state.config import FACETS


def result_row(item_id: int, state: dict[str, Any], latency_ms: float, query_call: Any = None) -> tuple[Any, ...]:
    """The results-table row of one finished graph; its usage counts the query-generation call when made."""
    gen, ref, verdict = state["generation"], state["refinement"], state["verdict"]
    by_facet = {v.facet: v for v in state.get("verdicts", [])}
    rationales = {f: by_facet[f].rationales for f in FACETS if f in by_facet}
    raw = {f: {"raw": by_facet[f].raw, "parse_error": by_facet[f].parse_error} for f in FACETS if f in by_facet}
    calls = [c.model_dump() for c in ([query_call] if query_call else []) + list(state.get("calls", []))]
    usage = {
        "prompt_tokens": sum(c["prompt_tokens"] for c in calls),
        "completion_tokens": sum(c["completion_tokens"] for c in calls),
        "calls": calls,
    }
    return (item_id, gen.reasoning, gen.answer, json.dumps(rationales), ref.reasoning, ref.answer, int(ref.refined),
            int(verdict.kept), verdict.reason, json.dumps(usage), round(latency_ms, 1), json.dumps(raw))


def teacher_row(item_id: int, name: str, completion: Any, settings: Settings, query: str) -> tuple[Any, ...]:
    """The teacher-table row of teacher `name`: its reasoning and answer, filtered like the paper's KD data and
    gated (nodes.gate) like the backbone's."""
    reasoning, answer = split_reasoning(completion.text, completion.reasoning)
    usage = {"prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens,
             "finish_reason": completion.finish_reason}
    verdict = judge(answer, [], query=query, reasoning=reasoning, calls=[usage], settings=settings)
    return (item_id, name, reasoning, answer, int(verdict.kept), verdict.reason, json.dumps(usage),
            round(completion.latency_ms, 1))
