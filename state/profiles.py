"""Named settings profiles (`--profile NAME`, `profile: NAME` in the config), applied under YAML, env and flags.

`paper`: the paper's Appendix B settings (the defaults). `small`: what a small model needs on any
OpenAI-compatible server, and what the embedded SmolLM2-135M runs with:
- the short packaged templates without worked examples (`prompts/small/`), which a small model would copy;
- evaluators pre-filled with "We should" (it ignores output formats);
- sampling that curbs loops (repetition and frequency penalties);
- a grammar per node (state/grammars.py, vLLM's `structured_outputs`) that makes every output end on its
  own: whole sentences for answers (the backbone's and a teacher's) and queries, 1-3 "We should …" lines
  for the evaluators;
- token budgets with room above what each grammar allows, so no call stops at its cap.
A server without structured outputs ignores the grammars, or refuses them (each id then fails, typed, with
the server's answer in one line).
"""

from __future__ import annotations

from typing import Any

from state.grammars import ANSWER, QUESTION, RATIONALES

PROFILES = ("paper", "small")
PENALTIES: dict[str, float] = {"repetition_penalty": 1.1, "frequency_penalty": 0.3}
BUDGETS: dict[str, int] = {"query": 384, "generate": 512, "evaluate": 320, "refine": 512, "teacher": 512}
GRAMMARS: dict[str, str] = {"query": QUESTION, "generate": ANSWER, "evaluate": RATIONALES, "refine": ANSWER,
                            "teacher": ANSWER}


def _node_sampling(grammars: bool) -> dict[str, Any]:
    # A node's extra_body replaces the run-wide one, so each carries the penalties along with its grammar.
    out: dict[str, Any] = {}
    for node, tokens in BUDGETS.items():
        body: dict[str, Any] = dict(PENALTIES)
        if grammars:
            body["structured_outputs"] = {"regex": GRAMMARS[node]}
        out[node] = {"max_tokens": tokens, "extra_body": body}
    return out


# Engine-neutral: what any server honours (the embedded llama.cpp engine runs with these alone).
SMALL_BUDGETS: dict[str, Any] = {
    "evaluator_prefill": "We should",
    "prompt_set": "small",
    "sampling": {"max_tokens": max(BUDGETS.values()), "extra_body": dict(PENALTIES)},
    "node_sampling": _node_sampling(grammars=False),
}
# What a server with vLLM's structured outputs adds: the grammars (merged over SMALL_BUDGETS).
SMALL_GRAMMARS: dict[str, Any] = {"node_sampling": _node_sampling(grammars=True)}
SMALL_PROFILE: dict[str, Any] = {**SMALL_BUDGETS, **SMALL_GRAMMARS}
SETTINGS: dict[str, dict[str, Any]] = {"paper": {}, "small": SMALL_PROFILE}
FAR_BELOW = 4  # a served context this many times smaller than max_tokens suits the small profile


def profile_hint(url: str, context: int | None, max_tokens: int, profile: str) -> str | None:
    """A line telling the user which profile fits a server whose context is far below max_tokens, or None."""
    if context is None or profile == "small" or context * FAR_BELOW > max_tokens:
        return None
    return (f"note: {url} serves a {context}-token context, far below max_tokens {max_tokens} (the paper's "
            "settings); for a small model pass --profile small (or `profile: small` in the config)")
