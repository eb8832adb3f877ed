"""The evaluation loop: responses then per-item grades, concurrent, bounded, written to the store as they land.

Policy and grader get their own concurrency bound so both servers stay busy. Anything already in the
store (a response to the same prompt, a grade by the same grader of the same rendered prompt) is reused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eval.batch.store import EvalStore, FailureRow, GradeRow, ResponseRow, StoreError, digest, grade_key
from eval.data.examples import Example
from eval.grading.grader import PROMPT_NAME, Grader, grader_prompt
from nodes.llm.client import ChatClient, EndpointsDown, LLMError
from nodes.parsing import split_reasoning
from prompts.loader import Prompt, load_prompt
from state.config import Sampling

Turns = list[dict[str, str]]


def policy_turns(example: Example, system_prompt: str | None = None) -> Turns:
    """The messages the policy receives: the conversation, after a system turn when one is given."""
    system = [] if system_prompt is None else [{"role": "system", "content": system_prompt}]
    return [*system, *(dict(t) for t in example.prompt)]


def prompt_hash(example: Example, system_prompt: str | None = None) -> str:
    """Hash of the messages a response answers (the same prompt_id may differ between files)."""
    turns = policy_turns(example, system_prompt)
    return digest("\x1e".join(f"{t['role']}\x1f{t['content']}" for t in turns))


def slot_key(prompt_id: str, repeat: int) -> str:
    """Where repeat `repeat` of an example's answer is stored: the prompt_id itself for the first."""
    return prompt_id if repeat == 0 else f"{prompt_id}#{repeat}"


@dataclass
class Events:
    """Progress callbacks for the CLI layer; each gets ok=True/False per finished unit."""

    response: Callable[[bool], None] = lambda ok: None
    grade: Callable[[bool], None] = lambda ok: None


@dataclass
class Outcome:
    """Per (prompt_id, repeat), one entry per rubric item: True/False, or None where grading failed.

    Answers that could not be obtained are absent; `errors` keeps the first failure messages for the report.
    """

    met: dict[tuple[str, int], list[bool | None]] = field(default_factory=dict)
    explanations: dict[tuple[str, int], list[str]] = field(default_factory=dict)  # the grader's, per item
    response_failures: int = 0
    errors: list[str] = field(default_factory=list)
    policy_calls: int = 0
    grader_calls: int = 0

    def note(self, message: str) -> None:
        if len(self.errors) < 5:
            self.errors.append(message)


def check_responder(store: EvalStore, responder: str) -> None:
    """One store holds one responder's answers, so a score never mixes two models."""
    others = {s.model for s in store.responses().values()} - {responder}
    if others:
        raise StoreError(
            f"--db {store.path} holds responses from {sorted(others)[0]!r}, not {responder!r}; "
            "use a separate --db per policy model"
        )


async def _gather_or_cancel(coros: Sequence[Awaitable[Any]]) -> list[Any]:
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


class Evaluation:
    """One pass over the examples; holds what the store already has so nothing is asked for twice."""

    def __init__(
        self,
        store: EvalStore,
        grader: Grader,
        grader_model: str,
        *,
        responder: str,
        policy: ChatClient | None,
        policy_sampling: Sampling,
        given: dict[str, str] | None,
        concurrency: int,
        grader_concurrency: int,
        events: Events,
        template: Prompt,
        system_prompt: str | None,
    ) -> None:
        self.store, self.grader, self.grader_model, self.responder = store, grader, grader_model, responder
        self.policy, self.sampling, self.given, self.events = policy, policy_sampling, given, events
        self.stored = store.responses()
        self.known = store.grades(grader_model)
        self.template, self.system_prompt = template, system_prompt
        self.policy_sem = asyncio.Semaphore(concurrency)
        self.grade_sem = asyncio.Semaphore(grader_concurrency)
        self.out = Outcome()
        self.why: dict[str, str] = {}  # grader explanation by fingerprint, for the HTML report

    async def respond(self, ex: Example, repeat: int) -> str | None:
        """The stored, given or freshly generated answer; None (recorded) when the policy call fails."""
        key = slot_key(ex.prompt_id, repeat)
        phash = prompt_hash(ex, self.system_prompt)
        if self.given is not None:
            answer = self.given[ex.prompt_id]
            self.store.put_response(ResponseRow(key, phash, answer, self.responder, "file"))
            return answer
        hit = self.stored.get(key)
        if hit is not None and hit.prompt_hash == phash:
            return hit.response
        assert self.policy is not None, "a policy client is needed when responses are not given"
        try:
            async with self.policy_sem:
                self.out.policy_calls += 1
                done = await self.policy.chat(policy_turns(ex, self.system_prompt), self.sampling)
        except EndpointsDown:
            raise
        except LLMError as exc:
            self.store.put_failure(
                FailureRow("policy", key, ex.prompt_id, -1, self.responder, str(exc), exc.attempts)
            )
            self.out.response_failures += 1
            self.out.note(f"response {key}: {exc}")
            self.events.response(False)
            return None
        reasoning, answer = split_reasoning(done.text, done.reasoning)
        self.store.put_response(
            ResponseRow(
                key,
                phash,
                answer,
                self.responder,
                "policy",
                reasoning,
                done.prompt_tokens,
                done.completion_tokens,
                done.latency_ms,
            )
        )
        return answer

    async def grade(self, ex: Example, index: int, content: str) -> bool | None:
        """The verdict on one rendered grader prompt, from the store or the grader; None on failure."""
        fingerprint = self.grader.fingerprint(content)
        if fingerprint in self.known:
            self.events.grade(True)
            self.why[fingerprint] = self.known[fingerprint][1]
            return self.known[fingerprint][0]
        async with self.grade_sem:
            self.out.grader_calls += 1
            result = await self.grader.grade(content)
        if result.met is None:
            key = grade_key(self.grader_model, fingerprint)
            self.store.put_failure(
                FailureRow(
                    "grade", key, ex.prompt_id, index, self.grader_model, result.error or "", result.attempts
                )
            )
            self.out.note(f"grade {ex.prompt_id} item {index}: {result.error}")
            self.why[fingerprint] = f"grading failed: {result.error}"
            self.events.grade(False)
            return None
        self.store.put_grade(
            GradeRow(
                self.grader_model,
                fingerprint,
                ex.prompt_id,
                index,
                result.met,
                result.explanation,
                result.attempts,
            )
        )
        self.events.grade(True)
        self.why[fingerprint] = result.explanation
        return result.met

    async def example(self, ex: Example, repeat: int) -> None:
        response = await self.respond(ex, repeat)
        if response is None:
            return
        self.events.response(True)
        turns = policy_turns(ex, self.system_prompt)
        contents = [grader_prompt(ex, response, item, self.template, turns=turns) for item in ex.rubrics]
        self.out.met[(ex.prompt_id, repeat)] = await _gather_or_cancel(
            [self.grade(ex, i, c) for i, c in enumerate(contents)]
        )
        self.out.explanations[(ex.prompt_id, repeat)] = [
            self.why.get(self.grader.fingerprint(c), "") for c in contents
        ]


async def evaluate(
    examples: Sequence[Example],
    store: EvalStore,
    grader: Grader,
    grader_model: str,
    *,
    responder: str,
    policy: ChatClient | None = None,
    policy_sampling: Sampling | None = None,
    given: dict[str, str] | None = None,
    concurrency: int = 256,
    grader_concurrency: int | None = None,
    events: Events | None = None,
    template: Prompt | None = None,
    system_prompt: str | None = None,
    repeats: int = 1,
) -> Outcome:
    """Answer (or take `given` answers for) every example `repeats` times, then grade each rubric item.

    EndpointsDown propagates (the run stops and resumes later); any other failure is recorded in the
    store and in the outcome, and the example or item is left without a value.
    """
    run = Evaluation(
        store,
        grader,
        grader_model,
        responder=responder,
        policy=policy,
        policy_sampling=policy_sampling or Sampling.model_validate({}),
        given=given,
        concurrency=concurrency,
        grader_concurrency=grader_concurrency or concurrency,
        events=events or Events(),
        template=template or load_prompt(PROMPT_NAME),
        system_prompt=system_prompt,
    )
    await _gather_or_cancel([run.example(ex, r) for r in range(repeats) for ex in examples])
    return run.out
