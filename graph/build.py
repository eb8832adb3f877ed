"""build_graph(config, client) → the compiled per-query self-refinement StateGraph.

START → generate → {eval_decision, eval_communication, eval_safety} (one superstep) → merge
      → refine_directref | refine_contgen (skipped when every facet says N/A) → filter → END
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph

from nodes.context import NodeContext
from nodes.evaluate import make_evaluator
from nodes.filter import make_filter, run_settings
from nodes.generate import make_generate
from nodes.llm.client import ChatClient, LLMError, call_label
from nodes.merge import merge
from nodes.refine_contgen import make_contgen
from nodes.refine_directref import make_directref
from state.config import RunConfig
from state.graph_state import GraphState, InputState

RefineNode = Literal["refine_directref", "refine_contgen", "filter"]


def staged(name: str, node: Callable[[GraphState], Awaitable[dict[str, Any]]]) -> Any:
    """Tag an LLM failure with the node it happened in (the runner stores it as the failure's stage), and
    name the node to the client while it runs (for its notes)."""

    async def run(state: GraphState) -> dict[str, Any]:
        token = call_label.set(name)
        try:
            return await node(state)
        except LLMError as exc:
            exc.extra.setdefault("stage", name)
            raise
        finally:
            call_label.reset(token)

    return run


def build_graph(config: RunConfig, client: ChatClient) -> Any:
    """Compile the graph for `config`: disabled facets are absent, the refiner is the configured one."""
    ctx = NodeContext(config=config, client=client)
    refiner: RefineNode = "refine_contgen" if config.refiner == "contgen" else "refine_directref"

    builder = StateGraph(GraphState, input_schema=InputState)
    builder.add_node("generate", staged("generate", make_generate(ctx)))
    evaluators = [f"eval_{facet}" for facet in config.facets]
    for facet in config.facets:
        builder.add_node(f"eval_{facet}", staged(f"eval_{facet}", make_evaluator(ctx, facet)))
    builder.add_node("merge", merge)
    builder.add_node(refiner, staged(refiner, make_contgen(ctx) if config.refiner == "contgen" else make_directref(ctx)))
    builder.add_node("filter", make_filter(run_settings(config)))

    def route_after_merge(state: GraphState) -> RefineNode:
        return "filter" if "refinement" in state else refiner

    builder.add_edge(START, "generate")
    for name in evaluators:
        builder.add_edge("generate", name)
    builder.add_edge(evaluators, "merge")
    builder.add_conditional_edges("merge", route_after_merge, [refiner, "filter"])
    builder.add_edge(refiner, "filter")
    builder.add_edge("filter", END)
    return builder.compile()


def mermaid(config: RunConfig) -> str:
    """The graph's Mermaid diagram for `config` (no LLM is contacted)."""
    return build_graph(config, client=None).get_graph().draw_mermaid()  # type: ignore[arg-type]
