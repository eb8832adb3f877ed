"""Named settings profiles (`--profile NAME`, `profile: NAME` in the config), applied under YAML, env and flags.

`paper`: the paper's Appendix B settings (the defaults). `small`: what a small model needs on any
OpenAI-compatible server, and what the embedded SmolLM2-135M runs with: short budgets (it rambles up to any
limit), evaluators pre-filled with "We should" (it ignores output formats), and a grammar that makes the
query generator end with one question (vLLM's `structured_outputs`; servers without it ignore or refuse it).
"""

from __future__ import annotations

from typing import Any

PROFILES = ("paper", "small")
ONE_QUESTION = "[A-Z][A-Za-z0-9 ,.'()-]{30,300}[?]"
QUERY_GRAMMAR: dict[str, Any] = {"node_sampling": {"query": {"extra_body": {"structured_outputs": {"regex": ONE_QUESTION}}}}}
SMALL_BUDGETS: dict[str, Any] = {
    "evaluator_prefill": "We should",
    "sampling": {"max_tokens": 384},
    "node_sampling": {"evaluate": {"max_tokens": 160}, "query": {"max_tokens": 160}},
}
SMALL_PROFILE: dict[str, Any] = {
    "evaluator_prefill": SMALL_BUDGETS["evaluator_prefill"],
    "sampling": dict(SMALL_BUDGETS["sampling"]),
    "node_sampling": {"evaluate": {"max_tokens": 160},
                      "query": {"max_tokens": 160, **QUERY_GRAMMAR["node_sampling"]["query"]}},
}
SETTINGS: dict[str, dict[str, Any]] = {"paper": {}, "small": SMALL_PROFILE}
FAR_BELOW = 4  # a served context this many times smaller than max_tokens suits the small profile


def profile_hint(url: str, context: int | None, max_tokens: int, profile: str) -> str | None:
    """A line telling the user which profile fits a server whose context is far below max_tokens, or None."""
    if context is None or profile == "small" or context * FAR_BELOW > max_tokens:
        return None
    return (f"note: {url} serves a {context}-token context, far below max_tokens {max_tokens} (the paper's "
            "settings); for a small model pass --profile small (or `profile: small` in the config)")
