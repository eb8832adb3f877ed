"""The evaluation stages of an experiment: each row's model served with vLLM (on eval.port plus its row's
place), answering and graded on HealthBench (`eval.healthbench`, one store per row), then the rows side by
side (`eval.compare` → compare.md) and the table of the method (`experiments.results` → results.md, .json)."""

from __future__ import annotations

from pathlib import Path

from eval.grading.setup import MUSER
from eval.options import EMBEDDED_GRADER_MAX_TOKENS
from experiments.spec import ROWS, Endpoint, Row, Served, Spec
from experiments.stages import Stage, dump, servers
from experiments.train_stages import MODELS, base_model
from graph.serve.embedded import engine_name
from training.cache import cached_model_dir, resolve_model_ref

SLUGS: dict[Row, str] = {"base": "base", "+SR": "sr", "+KD": "kd", "+KD+SR": "kd-sr"}
TRAINED_BY: dict[Row, str] = {"+SR": "train_sr", "+KD": "train_kd", "+KD+SR": "train_kd_sr"}
EVAL = "eval"
RESULTS = "results.md"
RESULTS_JSON = "results.json"
COMPARE = "compare.md"


def row_model(spec: Spec, out: Path, row: Row) -> str:
    """What serves a row: the base model (a directory, or a Hub id), or the row's trained model directory."""
    return resolve_model_ref(base_model(spec)) if row == "base" else str(out / MODELS / SLUGS[row])


def row_servers(spec: Spec, out: Path) -> dict[Row, Served]:
    """Each row's server: vLLM on 127.0.0.1, port eval.port plus the row's place in base, +SR, +KD, +KD+SR.
    The base row has none when its model is the embedded one: the embedded server (vLLM) answers for it."""
    models = {row: row_model(spec, out, row) for row in spec.rows}
    return {row: Served(serve=model, port=spec.eval.port + ROWS.index(row), args=spec.eval.serve_args)
            for row, model in models.items() if not (row == "base" and is_embedded(model))}


def is_embedded(model: str) -> bool:
    return model == str(cached_model_dir()) and engine_name() == "vllm"


def grader_args(spec: Spec, embedded_port: int) -> list[str]:
    """The grader's flags. The embedded model is passed by URL, so that its items are graded concurrently, with
    eval.healthbench's embedded settings (this project's prompt, a short budget) unless the spec sets its own."""
    grader, ev = spec.eval.grader, spec.eval
    prompt: str | None = ev.grader_prompt
    budget = ev.grader_max_tokens
    if isinstance(grader, Endpoint):
        where = ["--grader-base-url", grader.url, *(["--grader-model", grader.model] if grader.model else [])]
    elif isinstance(grader, Served):
        where = ["--grader-base-url", grader.url()]
    else:
        where = ["--grader-base-url", f"http://127.0.0.1:{embedded_port}/v1"]
        prompt, budget = prompt or MUSER, budget or EMBEDDED_GRADER_MAX_TOKENS
    return [*where, *(["--grader-max-tokens", str(budget)] if budget else []),
            *(["--grader-prompt", prompt] if prompt else [])]


def healthbench(spec: Spec, url: str, embedded_port: int, data: str, db: Path, report: Path) -> list[str]:
    """One row's `eval.healthbench` command on `data`: its model at `url`, the spec's budgets and grader."""
    ev = spec.eval
    return ["eval.healthbench", "--data", data, *(["--n", str(ev.n)] if ev.n else []), "--base-url", url,
            *(["--max-tokens", str(ev.max_tokens)] if ev.max_tokens else []), *grader_args(spec, embedded_port),
            "--db", str(db), "--out", str(report)]


def eval_stages(spec: Spec, out: Path, embedded_port: int, after: list[str]) -> list[Stage]:
    """eval_<row> for each row, then compare and results. `after`: the stages that exist (base, train_*)."""
    ev, folder, stages = spec.eval, out / EVAL, []
    served = row_servers(spec, out)
    reads = {"eval": ev.model_dump(exclude={"port", "serve_args", "hard"}), "eval.grader": dump(ev.grader)}
    for row in spec.rows:
        slug, server = SLUGS[row], served.get(row)
        db, report = folder / f"{slug}.sqlite", folder / f"{slug}.json"
        url = server.url() if server else f"http://127.0.0.1:{embedded_port}/v1"
        needs = [name for name in (TRAINED_BY.get(row, "base"),) if name in after]
        name, uses = f"eval_{slug.replace('-', '_')}", servers(server or "embedded", ev.grader)
        row_reads = {**reads, "row": dump(server or "embedded")}
        argv = healthbench(spec, url, embedded_port, ev.data, db, report)
        stages.append(Stage(name, argv, row_reads, [report], depends_on=needs,
                            files=[Path(ev.data)] if ev.data != "bundled" else [], servers=uses, set_aside=db))
        if ev.hard is not None:  # into the same store, under subset hard: results.md gets its column
            hard = folder / f"{slug}-hard.json"
            argv = [*healthbench(spec, url, embedded_port, ev.hard, db, hard), "--subset", "hard"]
            stages.append(Stage(f"{name}_hard", argv, {**row_reads, "eval.hard": ev.hard}, [hard],
                                depends_on=[*needs, name], files=[Path(ev.hard)], servers=uses))
    evals = [stage.name for stage in stages]
    dbs = [str(folder / f"{SLUGS[row]}.sqlite") for row in spec.rows]
    stages.append(Stage("compare", ["eval.compare", *dbs, "--labels", *spec.rows, "--out", str(out / COMPARE)],
                        {}, [out / COMPARE], depends_on=evals))
    stores = [f"{row}={db}" for row, db in zip(spec.rows, dbs, strict=True)]
    results = [out / RESULTS, out / RESULTS_JSON]
    stages.append(Stage("results", ["experiments.results", *stores, "--out", str(results[0]), "--json", str(results[1])],
                        {}, results, depends_on=evals))
    return stages
