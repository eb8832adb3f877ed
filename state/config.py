"""Run configuration: one pydantic model, resolved as defaults < YAML < environment < CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from state.profiles import SMALL_BUDGETS

FacetName = Literal["decision", "communication", "safety"]
FACETS: tuple[FacetName, ...] = ("decision", "communication", "safety")
NodeName = Literal["query", "generate", "evaluate", "refine", "teacher"]


class Sampling(BaseModel):
    """Sampling parameters for one chat call (paper Appendix B defaults)."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(0.6, ge=0.0, le=2.0, description="Softmax temperature.")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    top_k: int | None = Field(40, ge=-1, description="Top-k; sent through extra_body (vLLM); None omits it.")
    max_tokens: int = Field(40960, ge=1, description="Maximum new tokens per call: a ceiling, lowered per call to what the served context leaves.")
    seed: int | None = Field(None, description="Per-request seed, when the server honours it.")
    extra_body: dict[str, Any] = Field(default_factory=dict, description="Extra JSON fields sent verbatim.")

    def merged(self, override: SamplingOverride | None) -> Sampling:
        """This sampling with the fields set in `override` replaced."""
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_none=True))


class SamplingOverride(BaseModel):
    """Per-node sampling override: only the fields given replace the run-wide sampling."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(None, ge=0.0, le=2.0, description="Softmax temperature.")
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    top_k: int | None = Field(None, ge=-1, description="Top-k (extra_body).")
    max_tokens: int | None = Field(None, ge=1, description="Maximum new tokens.")
    extra_body: dict[str, Any] | None = Field(None, description="Extra JSON fields sent verbatim.")


class EndpointConfig(BaseModel):
    """Where the LLM calls go and how hard the client tries."""

    model_config = ConfigDict(extra="forbid")

    base_urls: list[str] = Field(default_factory=list, description="OpenAI-compatible base URLs (…/v1); empty starts the embedded model.")
    model: str | None = Field(None, description="Served model name; discovered from /v1/models when omitted.")
    api_key: str = Field("EMPTY", description="Bearer token sent to the endpoint(s).")
    timeout_s: float = Field(600.0, gt=0, description="Per-request time-out in seconds.")
    connect_timeout_s: float = Field(10.0, gt=0, description="TCP connect time-out in seconds.")
    discovery_timeout_s: float = Field(15.0, gt=0, description="Time-out for /v1/models and /tokenize, which answer at once when the server is up.")
    max_retries: int = Field(4, ge=0, le=20, description="Retries after the first attempt for 429/5xx/time-outs/drops.")
    backoff_base_s: float = Field(0.5, ge=0, description="First back-off delay; doubles per retry, with full jitter.")
    backoff_max_s: float = Field(30.0, ge=0, description="Cap on one back-off delay.")
    eject_after: int = Field(5, ge=1, description="Consecutive failures that take an endpoint out of rotation.")
    probe_after_s: float = Field(10.0, gt=0, description="Seconds before an ejected endpoint is tried again.")
    all_down_after_s: float = Field(60.0, gt=0, description="Stop when every endpoint has been out this long.")

    @field_validator("api_key")
    @classmethod
    def _check_key(cls, key: str) -> str:
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
            raise ValueError("the API key contains a line break or control character; copy the key without it")
        return key

    @field_validator("base_urls")
    @classmethod
    def _check_urls(cls, urls: list[str]) -> list[str]:
        out = []
        for url in urls:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"base URL {url!r} must start with http:// or https://")
            out.append(url.rstrip("/"))
        return out


class RunConfig(BaseModel):
    """Everything that decides what one self-refinement graph does."""

    model_config = ConfigDict(extra="forbid")

    refiner: Literal["directref", "contgen"] = Field("directref", description="How r' is produced: DirectRef (paper default) or ContGen.")
    facets: list[FacetName] = Field(default_factory=lambda: list(FACETS), description="Facet evaluators in the graph (Table 2 ablation).")
    client: Literal["http", "langchain"] = Field("http", description="LLM client: thin aiohttp client, or langchain-openai ChatOpenAI.")
    endpoint: EndpointConfig = Field(default_factory=lambda: EndpointConfig(), description="Backbone endpoint(s).")
    generator: EndpointConfig | None = Field(None, description="Query-generator LLM endpoint (default: the backbone's).")
    teacher: EndpointConfig | None = Field(None, description="Teacher LLM endpoint for KD answers (default: none).")
    priors_file: Path | None = Field(None, description="YAML overriding the attribute priors (state/priors.yaml).")
    sampling: Sampling = Field(default_factory=lambda: Sampling(), description="Run-wide sampling (paper Appendix B).")
    node_sampling: dict[NodeName, SamplingOverride] = Field(default_factory=dict, description="Per-node sampling overrides.")
    prompts_dir: Path | None = Field(None, description="Directory whose *.txt files replace the packaged prompts of the same name.")
    prompt_set: Literal["paper", "small"] = Field("paper", description="Packaged templates: paper (the paper's prompts) or small (short ones without worked examples, for small models); prompts_dir files still win.")
    system_prompt: str | None = Field(None, description="Prompt name (or None) used as the system turn of generate.")
    contgen_api: Literal["chat", "completions"] = Field("chat", description="ContGen through chat continue_final_message (vLLM) or raw completions.")
    chat_template: str = Field("chatml", description="Template (prompt name, .jinja) applied locally when contgen_api=completions.")
    evaluator_prefill: str | None = Field(None, description="Text the evaluators' answer is forced to start with (e.g. 'We should'), for small models that ignore the output format; continued like ContGen.")
    min_answer_words: int = Field(50, ge=0, description="Filter: answers shorter than this are dropped.")
    max_unknown_letters: float = Field(0.2, ge=0.0, le=1.0, description="Filter: drop a reasoning or answer when more than this share of its letters lie in words its language's word list lacks (glued or invented words); 1 turns it off.")
    max_word_letters: int = Field(30, ge=0, description="Filter: drop a reasoning or answer with an unknown word longer than this (a glued sentence); 0 turns it off.")
    profile: Literal["paper", "small"] = Field("paper", description="Named settings under YAML, env and flags: paper (Appendix B) or small (small-model budgets, prefill, penalties, templates, grammars).")

    @field_validator("facets")
    @classmethod
    def _dedupe_facets(cls, facets: list[FacetName]) -> list[FacetName]:
        if not facets:
            raise ValueError("at least one facet must be enabled (decision, communication, safety)")
        return [f for f in FACETS if f in facets]

    def sampling_for(self, node: NodeName) -> Sampling:
        """The sampling used by `node` after its override."""
        return self.sampling.merged(self.node_sampling.get(node))


# The embedded engines' base settings: the small profile's budgets and prefill (state/profiles.py); an
# engine adds what it supports (vLLM the query grammar, llama.cpp ContGen through completions).
EMBEDDED_PROFILE: dict[str, Any] = {**SMALL_BUDGETS, "profile": "small"}
