"""The compiled per-query graph against a real stub server: parallel evaluators, refiner swap, facet
ablation, the all-N/A skip, the ContGen request shapes and errors that stay errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from stub_server import StubServer

from graph.build import build_graph, mermaid
from nodes.llm.client import LLMError
from nodes.llm.factory import make_client
from state.config import EndpointConfig, RunConfig

QUERY = "My 3 year old has had a fever of 39.5 for two days, what should I do?"
T0 = "The child is three; fever for two days."
R0 = (
    "Give fluids and paracetamol at the weight-based dose, and watch for warning signs such as drowsiness, "
    "trouble breathing, a rash that does not fade when pressed, a stiff neck or far fewer wet nappies than "
    "usual. If the fever lasts beyond three days or any warning sign appears, see a doctor the same day; "
    "call "
    "emergency services for a seizure or if the child cannot be woken up."
)
REFINED = "Refined: " + R0
CONTINUED = "Continued answer: " + R0

# Substrings that identify each request kind (see the prompt files); checked in this order.
KINDS = [
    ("Context to check, one perspective at a time", "eval_decision"),
    ("pitched its answer to them", "eval_communication"),
    ("Perspectives to check", "eval_safety"),
    ("## Your reflection", "refine_directref"),
    ("</think>", "refine_contgen"),
]
DECISION_OUT = "We should ask the child's weight.\nWe should ask whether the child is drinking."
SAFETY_OUT = "- We should list the emergency signs first."


class RecordingStub(StubServer):
    """The stub, also recording each request's path and the peak number of requests in flight."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.paths: list[str] = []
        self.in_flight = 0
        self.peak = 0

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await super()._complete(request)
        finally:
            self.in_flight -= 1


def kind_of(body: dict[str, Any]) -> str:
    text = "\n".join(m["content"] for m in body["messages"]) if "messages" in body else body["prompt"]
    return next((name for needle, name in KINDS if needle in text), "generate")


def kinds(server: StubServer) -> list[str]:
    return [kind_of(body) for body in server.requests]


def script(
    server: StubServer,
    *,
    decision: Any = DECISION_OUT,
    communication: Any = "N/A",
    safety: Any = SAFETY_OUT,
    directref: Any = REFINED,
    contgen: Any = CONTINUED,
    generate: Any = None,
) -> StubServer:
    replies = {
        "eval_decision": decision,
        "eval_communication": communication,
        "eval_safety": safety,
        "refine_directref": directref,
        "refine_contgen": contgen,
    }
    server.rules = [(needle, replies[name]) for needle, name in KINDS]
    server.default = generate if generate is not None else {"content": R0, "reasoning_content": T0}
    return server


@pytest.fixture
def rstub() -> Iterator[RecordingStub]:
    server = script(RecordingStub().start())
    yield server
    server.stop()


def config_for(server: StubServer, **settings: Any) -> RunConfig:
    return RunConfig(
        endpoint=EndpointConfig(base_urls=[server.url], max_retries=1, backoff_base_s=0.01), **settings
    )


async def _invoke(config: RunConfig) -> dict[str, Any]:
    client = make_client(config, concurrency=8)
    try:
        return await build_graph(config, client).ainvoke({"query": QUERY, "attributes": None})
    finally:
        await client.aclose()


def invoke(config: RunConfig) -> dict[str, Any]:
    return asyncio.run(_invoke(config))


def node_names(config: RunConfig) -> set[str]:
    return set(build_graph(config, client=None).get_graph().nodes)  # type: ignore[arg-type]


# -- parallel fan-out --------------------------------------------------------------------------------


def test_three_evaluators_run_in_one_superstep(rstub: RecordingStub) -> None:
    rstub.latency_ms = 200
    config = config_for(rstub)

    async def steps() -> dict[str, set[int]]:
        client = make_client(config, concurrency=8)
        seen: dict[str, set[int]] = {}
        try:
            async for event in build_graph(config, client).astream(
                {"query": QUERY, "attributes": None}, stream_mode="debug"
            ):
                if event["type"] == "task":
                    seen.setdefault(event["payload"]["name"], set()).add(event["step"])
        finally:
            await client.aclose()
        return seen

    seen = asyncio.run(steps())
    assert seen["eval_decision"] == seen["eval_communication"] == seen["eval_safety"]
    (eval_step,) = seen["eval_decision"]
    assert seen["generate"] == {eval_step - 1} and seen["merge"] == {eval_step + 1}
    # The three evaluator requests were in flight together; every other call runs alone.
    assert rstub.peak == 3
    assert sorted(kinds(rstub)) == sorted(
        ["generate", "eval_decision", "eval_communication", "eval_safety", "refine_directref"]
    )


def test_verdicts_fan_in_through_the_reducer(rstub: RecordingStub) -> None:
    state = invoke(config_for(rstub))
    by_facet = {v.facet: v for v in state["verdicts"]}
    assert set(by_facet) == {"decision", "communication", "safety"}
    assert by_facet["decision"].rationales == DECISION_OUT.splitlines()
    assert by_facet["communication"].rationales == []
    assert by_facet["safety"].rationales == ["We should list the emergency signs first."]
    assert state["generation"].reasoning == T0 and state["generation"].answer == R0
    assert state["merged_reasoning"] == (
        f"{T0}\n\nFirst, we should ask the child's weight. "
        "Next, we should ask whether the child is drinking. "
        "Finally, we should list the emergency signs first."
    )
    assert sorted(c.node for c in state["calls"]) == sorted(
        ["generate", "eval_decision", "eval_communication", "eval_safety", "refine_directref"]
    )


# -- refiner swap ------------------------------------------------------------------------------------


def test_directref_is_the_default_refiner(rstub: RecordingStub) -> None:
    config = config_for(rstub)
    names = node_names(config)
    assert "refine_directref" in names and "refine_contgen" not in names
    state = invoke(config)
    assert "refine_directref" in kinds(rstub) and "refine_contgen" not in kinds(rstub)
    assert state["refinement"].method == "directref" and state["refinement"].refined
    assert state["refinement"].answer == REFINED
    assert state["refinement"].reasoning == state["merged_reasoning"]
    assert state["verdict"].kept
    # DirectRef's prompt carries q, r0 and the rationales (one per line, facet order).
    (body,) = [b for b in rstub.requests if kind_of(b) == "refine_directref"]
    prompt = body["messages"][-1]["content"]
    assert QUERY in prompt and R0 in prompt
    assert f"{DECISION_OUT}\nWe should list the emergency signs first." in prompt


def test_contgen_swaps_the_refiner(rstub: RecordingStub) -> None:
    config = config_for(rstub, refiner="contgen")
    names = node_names(config)
    assert "refine_contgen" in names and "refine_directref" not in names
    assert "refine_contgen" in mermaid(config) and "refine_directref" not in mermaid(config)
    state = invoke(config)
    assert "refine_contgen" in kinds(rstub) and "refine_directref" not in kinds(rstub)
    assert state["refinement"].method == "contgen" and state["refinement"].answer == CONTINUED


# -- facet ablation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("facets", [["decision", "safety"], ["communication"], ["safety"]])
def test_disabled_facets_are_absent_and_never_called(rstub: RecordingStub, facets: list[str]) -> None:
    config = config_for(rstub, facets=facets)
    names = node_names(config)
    for facet in ("decision", "communication", "safety"):
        assert (f"eval_{facet}" in names) == (facet in facets)
        assert (f"eval_{facet}" in mermaid(config)) == (facet in facets)
    state = invoke(config)
    assert sorted(k for k in kinds(rstub) if k.startswith("eval_")) == sorted(f"eval_{f}" for f in facets)
    assert sorted(v.facet for v in state["verdicts"]) == sorted(facets)


# -- all N/A -----------------------------------------------------------------------------------------


def test_all_na_skips_the_refiner(rstub: RecordingStub) -> None:
    # A reasoning model's thoughts (reasoning_content) must not be read as rationales.
    script(
        rstub,
        decision="N/A",
        communication="**N/A**",
        safety={"content": "N/A.", "reasoning_content": "We should maybe add more?"},
    )
    state = invoke(config_for(rstub))
    assert [k for k in kinds(rstub) if k.startswith("refine")] == []
    assert len(rstub.requests) == 4
    refinement = state["refinement"]
    assert (refinement.method, refinement.refined, refinement.answer) == ("skipped", False, R0)
    assert state["merged_reasoning"] == T0 == refinement.reasoning
    assert state["verdict"].kept and state["verdict"].words == len(R0.split())


def test_all_na_skips_contgen_too(rstub: RecordingStub) -> None:
    script(rstub, decision="N/A", communication="N/A", safety="None")
    state = invoke(config_for(rstub, refiner="contgen"))
    assert "refine_contgen" not in kinds(rstub)
    assert state["refinement"].method == "skipped"


# -- ContGen request shape ---------------------------------------------------------------------------


def test_contgen_chat_request_shape(rstub: RecordingStub) -> None:
    config = config_for(rstub, refiner="contgen", node_sampling={"refine": {"temperature": 0.2}})
    state = invoke(config)
    (body,) = [b for b in rstub.requests if kind_of(b) == "refine_contgen"]
    assert rstub.paths[rstub.requests.index(body)] == "/v1/chat/completions"
    messages = body["messages"]
    assert messages[-2] == {"role": "user", "content": QUERY}
    assert messages[-1]["role"] == "assistant"
    assert messages[-1]["content"].startswith("<think>")
    assert messages[-1]["content"] == f"<think>\n{state['merged_reasoning']}\n</think>\n\n"
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["temperature"] == 0.2 and body["top_k"] == 40
    assert (
        state["refinement"].answer == CONTINUED and state["refinement"].reasoning == state["merged_reasoning"]
    )


def test_contgen_completions_request_shape(rstub: RecordingStub) -> None:
    state = invoke(config_for(rstub, refiner="contgen", contgen_api="completions"))
    index = next(i for i, b in enumerate(rstub.requests) if kind_of(b) == "refine_contgen")
    body, path = rstub.requests[index], rstub.paths[index]
    assert path == "/v1/completions"
    assert "messages" not in body
    assert body["prompt"] == (
        f"<|im_start|>user\n{QUERY}<|im_end|>\n"
        f"<|im_start|>assistant\n<think>\n{state['merged_reasoning']}\n</think>\n\n"
    )
    assert body["top_k"] == 40 and "continue_final_message" not in body
    assert state["refinement"].answer == CONTINUED


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["generate", "eval_safety", "refine_directref"])
def test_llm_error_in_a_node_is_raised_with_its_stage(rstub: RecordingStub, stage: str) -> None:
    failure = (400, f"scripted failure in {stage}")
    if stage == "generate":
        script(rstub, generate=failure)
    elif stage == "eval_safety":
        script(rstub, safety=failure)
    else:
        script(rstub, directref=failure)
    with pytest.raises(LLMError) as info:
        invoke(config_for(rstub))
    err = info.value
    assert err.extra["stage"] == stage
    assert (err.kind, err.status) == ("http", 400)
    assert f"scripted failure in {stage}" in str(err)
    # Nothing ran after the failing node's superstep: no refinement or filter happened.
    if stage != "refine_directref":
        assert "refine_directref" not in kinds(rstub)


def test_empty_generation_is_an_error_not_an_answer(rstub: RecordingStub) -> None:
    script(rstub, generate={"content": "", "reasoning_content": ""})
    with pytest.raises(LLMError) as info:
        invoke(config_for(rstub))
    assert info.value.kind == "empty" and info.value.extra["stage"] == "generate"
    assert kinds(rstub) == ["generate"]  # not retried, and nothing downstream ran
