"""Endpoints and clients for an evaluation: given URLs, or the embedded model when a URL is omitted.

API keys come from the environment only (never the command line, where `ps` shows them):
MUSER_API_KEY for the policy, MUSER_GRADER_API_KEY for the grader.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack, asynccontextmanager
from typing import Any

from pydantic import ValidationError

from eval.grading.grader import GRADE_FORMAT, Grader, choose_format
from eval.grading.setup import REFERENCE, REFERENCE_SYSTEM, GradingSetup, default_grader_model, sha256
from nodes.llm.client import ChatClient
from prompts.loader import Prompt
from state.config import EndpointConfig, Sampling
from state.resolve import format_validation_error


class SetupError(RuntimeError):
    """Endpoints or clients could not be set up; str() is one line with the fix."""


def endpoints(
    stack: ExitStack, args: argparse.Namespace, log: Callable[[str], None]
) -> tuple[list[str], list[str]]:
    """(policy URLs, grader URLs); one embedded server (kept open on `stack`) serves every role without a URL.

    No policy URLs are needed when answers are given (--responses) or the command has no policy (eval.meta).
    """
    embedded: list[str] = []

    def start() -> list[str]:
        if embedded:
            return embedded
        try:
            from graph.serve.embedded import endpoints_or_embedded
            from graph.serve.process import ServeError
        except ImportError as exc:
            raise SetupError(
                f"no URL given and the embedded model is unavailable ({exc}); "
                "pass --base-url and --grader-base-url"
            ) from None
        try:
            embedded.extend(stack.enter_context(endpoints_or_embedded([], port=args.embedded_port, log=log)))
        except ServeError as exc:
            raise SetupError(f"{exc} (or pass --base-url and --grader-base-url)") from None
        return embedded

    need_policy = not getattr(args, "responses", None) and hasattr(args, "base_url")
    policy = list(getattr(args, "base_url", [])) or (start() if need_policy else [])
    grader = list(args.grader_base_url) or start()
    return policy, grader


def _endpoint(urls: list[str], model: str | None, key_env: str, flag: str, **extra: Any) -> EndpointConfig:
    try:
        return EndpointConfig.model_validate(
            {"base_urls": urls, "model": model, "api_key": os.environ.get(key_env, "EMPTY"), **extra}
        )
    except ValidationError as exc:
        raise SetupError(format_validation_error(exc, flag)) from None


async def output_format(
    args: argparse.Namespace, urls: list[str], model: str, sampling: Sampling, log: Callable[[str], None]
) -> dict[str, Any] | None:
    """The grader's response_format: forced by --grader-structured on/off, else probed once."""
    if args.grader_structured in ("on", "off"):
        return GRADE_FORMAT if args.grader_structured == "on" else None
    from nodes.llm.http import HttpClient

    probe = HttpClient(_endpoint(urls, model, "MUSER_GRADER_API_KEY", "--grader-base-url", max_retries=0))
    try:
        form = await choose_format(probe, sampling)
    finally:
        await probe.aclose()
    kind = "plain JSON (the server takes no response_format)" if form is None else str(form["type"])
    log(f"grader output: {kind}")
    return form


@asynccontextmanager
async def open_grader(
    args: argparse.Namespace,
    urls: list[str],
    sampling: Sampling,
    template: Prompt,
    log: Callable[[str], None],
) -> AsyncIterator[tuple[Grader, GradingSetup]]:
    """The grader for `--grader-prompt` and the setup it grades with; the model is checked before any work.

    reference: a system turn, plain text parsed strictly; muser: no system turn, structured output probed.
    """
    from nodes.llm.http import HttpClient

    model = default_grader_model(urls, args.grader_model)
    client = HttpClient(
        _endpoint(urls, model, "MUSER_GRADER_API_KEY", "--grader-base-url"), concurrency=args.concurrency
    )
    try:
        grader_model = await client.model_name()
        reference = args.grader_prompt == REFERENCE
        form = None if reference else await output_format(args, urls, grader_model, sampling, log)
        system = REFERENCE_SYSTEM if reference else None
        grader = Grader(
            client,
            sampling,
            retries=args.grader_retries,
            response_format=form,
            system=system,
            strict=reference,
        )
        setup = GradingSetup(
            prompt=args.grader_prompt,
            prompt_sha256=sha256(template.text),
            model=grader_model,
            system=system,
            temperature=sampling.temperature,
            max_tokens=sampling.max_tokens,
            output="plain" if form is None else str(form["type"]),
        )
        yield grader, setup
    finally:
        await client.aclose()


@asynccontextmanager
async def open_clients(
    args: argparse.Namespace,
    policy_urls: list[str],
    grader_urls: list[str],
    need_policy: bool,
    grader_sampling: Sampling,
    template: Prompt,
    log: Callable[[str], None],
) -> AsyncIterator[tuple[ChatClient | None, Grader, str, GradingSetup]]:
    """(policy client or None, grader, responder name, grading setup); models are checked before any work.

    The responder is the served policy model, or for given responses --model or "responses:<file name>".
    """
    from nodes.llm.http import HttpClient

    policy_client = None
    if need_policy:
        policy_client = HttpClient(
            _endpoint(policy_urls, args.model, "MUSER_API_KEY", "--base-url"), concurrency=args.concurrency
        )
    try:
        async with open_grader(args, grader_urls, grader_sampling, template, log) as (grader, setup):
            if policy_client is not None:
                responder = await policy_client.model_name()
            else:
                responder = args.model or f"responses:{args.responses.name}"
            yield policy_client, grader, responder, setup
    finally:
        if policy_client is not None:
            await policy_client.aclose()
