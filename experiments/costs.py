"""What `experiments.run --dry-run` adds under each stage: the calls and tokens of its LLM stages (graph.run's
own planner, graph/batch/plan.py), the answers and rubric items of each evaluation, the training tokens
of each trained row, and the totals, with a cost when prices are given. Offline: no server is asked, and
only files already in the experiment directory are read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from experiments.manifest import ExperimentError
from experiments.spec import Spec
from experiments.train_stages import recipe_path

CHARS_PER_TOKEN = 4  # as graph/batch/plan.py: a rough, documented estimate
EPOCHS_DEFAULT = 6  # the paper's (Appendix D), when a recipe names none
GRADER_PROMPT = 600  # the grader's instructions and one rubric item, in tokens (typical)
VERDICT = 80  # a grader's typical reply: a short explanation and met / not met


@dataclass
class Estimate:
    """One stage's figures: calls, typical prompt tokens, completion ceiling and typical completion tokens."""

    calls: int = 0
    prompt: int = 0
    ceiling: int = 0
    typical: int = 0
    train_tokens: int = 0
    note: str = ""

    def add(self, other: Estimate) -> None:
        for key in ("calls", "prompt", "ceiling", "typical", "train_tokens"):
            setattr(self, key, getattr(self, key) + getattr(other, key))


def run_config(spec: Spec, teacher: bool) -> Any:
    """The RunConfig graph.run would resolve for the spec's run (its profile, refiner, facets, teacher)."""
    from state.resolve import resolve_config

    cli: dict[str, Any] = {"profile": spec.run.profile, "refiner": spec.run.refiner, "facets": spec.run.facets}
    if teacher:
        cli["teacher.base_urls"] = ["http://teacher.invalid/v1"]  # only its presence counts for the plan
    return resolve_config(None, cli, environ={})


def graph_estimates(spec: Spec, store: Path) -> dict[str, Estimate]:
    """graphs and teacher: graph.run's planner over the ids the store has not finished."""
    from graph.batch.plan import plan, stored_run

    _, done, queried = stored_run(store)
    ids = [i for i in range(spec.run.n) if i not in done]
    lines = plan(run_config(spec, teacher=spec.needs_teacher()), ids, queried)
    out = {"graphs": Estimate(), "teacher": Estimate()}
    for line in lines:
        out["teacher" if line.stage == "teacher" else "graphs"].add(
            Estimate(line.calls, line.prompt_typical, line.completion_ceiling, line.completion_typical))
    out["graphs"].note = f"{len(ids):,} of {spec.run.n:,} ids to run"
    return out


def eval_estimate(spec: Spec, data: str) -> Estimate:
    """One row's evaluation: an answer per example, then a grader call per rubric item, each grader prompt
    holding the conversation, the answer and the item."""
    from eval.data.examples import DataError, load_examples, select
    from eval.options import EMBEDDED_GRADER_MAX_TOKENS, GRADER_MAX_TOKENS, POLICY_MAX_TOKENS
    from graph.batch.plan import TYPICAL_OUT

    try:
        examples = select(load_examples(data)[0], spec.eval.n)
    except DataError as exc:
        raise ExperimentError(f"eval data {data}: {exc}") from None
    grader_default = EMBEDDED_GRADER_MAX_TOKENS if spec.eval.grader == "embedded" else GRADER_MAX_TOKENS
    answer_cap, grade_cap = spec.eval.max_tokens or POLICY_MAX_TOKENS, spec.eval.grader_max_tokens or grader_default
    answer = min(TYPICAL_OUT["generate"], answer_cap)
    items = prompt = 0
    for ex in examples:
        conversation = sum(len(turn.get("content", "")) for turn in ex.prompt) // CHARS_PER_TOKEN
        items += len(ex.rubrics)
        prompt += conversation + len(ex.rubrics) * (conversation + answer + GRADER_PROMPT)
    return Estimate(len(examples) + items, prompt, len(examples) * answer_cap + items * grade_cap,
                    len(examples) * answer + items * min(VERDICT, grade_cap),
                    note=f"{len(examples):,} answers, {items:,} rubric items")


def train_estimate(spec: Spec, field: str, data: Path) -> Estimate:
    """A training stage's tokens: its data's (once written; before, every id kept at typical lengths) times
    the recipe's epochs."""
    from graph.batch.plan import TYPICAL_OUT

    stage = getattr(spec.train, field)
    try:
        recipe: Any = yaml.safe_load(recipe_path(stage.recipe).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ExperimentError(f"recipe {stage.recipe}: not a readable YAML file ({type(exc).__name__})") from None
    epochs = float(recipe.get("num_train_epochs", EPOCHS_DEFAULT)) if isinstance(recipe, dict) else EPOCHS_DEFAULT
    train = data / "train.jsonl"
    if train.is_file():
        tokens = train.stat().st_size // CHARS_PER_TOKEN
        note = f"{sum(1 for _ in train.open(encoding='utf-8')):,} records written"
    else:
        out = TYPICAL_OUT
        record = out["query"] + (out["teacher"] if field == "kd" else out["generate"] + out["refine"] +
                                 len(spec.run.facets) * out["evaluate"])
        tokens, note = spec.run.n * record, f"before {field}_data: {spec.run.n:,} records at typical lengths"
    limit = f", at most {stage.max_steps} steps" if stage.max_steps else ""
    return Estimate(train_tokens=int(tokens * epochs), note=f"{note}, {epochs:g} epochs{limit}")


def estimates(spec: Spec, out: Path, names: list[str]) -> dict[str, Estimate]:
    """Stage name → its estimate, for the stages in `names` that call models or train."""
    found: dict[str, Estimate] = {}
    if "graphs" in names:
        found.update({k: v for k, v in graph_estimates(spec, out / "run.sqlite").items() if k in names})
    for hard, data in ((False, spec.eval.data), (True, spec.eval.hard)):
        evals = [name for name in names if name.startswith("eval_") and name.endswith("_hard") == hard]
        if evals and data is not None:
            one = eval_estimate(spec, data)
            found.update({name: one for name in evals})
    for name, field in (("train_kd", "kd"), ("train_kd_sr", "sr"), ("train_sr", "sr")):
        stage = getattr(spec.train, field)
        if name in names and stage is not None:
            found[name] = train_estimate(spec, field, out / "data" / field)
    return found


def line(est: Estimate) -> str:
    parts = [f"{est.calls:,} calls, prompt ≈ {est.prompt:,} tokens, completion ≤ {est.ceiling:,} "
             f"(typical ≈ {est.typical:,})"] if est.calls else []
    if est.train_tokens:
        parts.append(f"≈ {est.train_tokens:,} training tokens")
    return "; ".join(parts + ([est.note] if est.note else []))


def totals(found: dict[str, Estimate], prices: tuple[float, float] | None) -> str:
    total = Estimate()
    for est in found.values():  # the evaluation stages share one estimate: each row does that work
        total.add(est)
    text = (f"total: {total.calls:,} model calls, prompt ≈ {total.prompt:,} tokens, completion ≤ {total.ceiling:,} "
            f"(typical ≈ {total.typical:,}); ≈ {total.train_tokens:,} training tokens")
    if prices is not None:
        pin, pout = prices
        low = (total.prompt * pin + total.typical * pout) / 1e6
        high = (total.prompt * pin + total.ceiling * pout) / 1e6
        text += (f"\ncost if every call were priced at ${pin:g} in / ${pout:g} out per million tokens: typical "
                 f"${low:,.2f}, ceiling ${high:,.2f}")
    return text


def summary(spec: Spec, out: Path, names: list[str], prices: tuple[float, float] | None) -> tuple[dict[str, str], str]:
    """(stage → its line, the totals) for `names`."""
    found = estimates(spec, out, names)
    return {name: line(est) for name, est in found.items()}, totals(found, prices)
