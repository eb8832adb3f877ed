"""The stages of an experiment: each a name, the project's own command line (a command a person could type),
the spec fields it reads, the stages it depends on, the user files it reads and the outputs it writes.

Data stages (this module): graphs (queries, answers, self-evaluation and refinement: `graph.run`), teacher
answers (`graph.run` on the same store with the teacher), and the KD and SR datasets (`training.data`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.spec import Endpoint, ModelRef, Served, Spec

STORE = "run.sqlite"


@dataclass(frozen=True)
class Stage:
    name: str
    argv: list[str]  # after `python -m`
    reads: dict[str, Any]  # the spec fields it depends on, by dotted name
    outputs: list[Path]
    depends_on: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # user-given files it reads (fingerprinted by size and mtime)
    servers: tuple[str, ...] = ()  # what the runner must serve first: "embedded" or a served model's "serve:PORT"
    grows: tuple[str, ...] = ()  # spec fields whose increase the command continues from (kept outputs)
    set_aside: Path | None = None  # moved under superseded/ when redone for any other change (never deleted)

    def command(self) -> str:
        """The line a person would type."""
        return shlex.join(["python", "-m", *self.argv])


def endpoint_args(flag: str, model_flag: str, ref: ModelRef | None, embedded_url: str) -> list[str]:
    """`--base-url URL [--model M]` for a role (the embedded server's URL for `embedded`)."""
    if ref is None:
        return []
    if isinstance(ref, Endpoint):
        return [flag, ref.url, *([model_flag, ref.model] if ref.model else [])]
    return [flag, ref.url() if isinstance(ref, Served) else embedded_url]


def server_key(ref: ModelRef | None) -> str | None:
    """The runner's name for the server a role needs it to start (None: the role's server is the user's)."""
    if isinstance(ref, Served):
        return f"serve:{ref.port}"
    return "embedded" if ref == "embedded" else None


def servers(*refs: ModelRef | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(key for ref in refs if (key := server_key(ref))))


def dump(ref: ModelRef | None) -> Any:
    return ref.model_dump() if isinstance(ref, Endpoint | Served) else ref


def data_stages(spec: Spec, out: Path, embedded_url: str) -> list[Stage]:
    """graphs, teacher (when the table has KD rows), kd_data and sr_data, in order."""
    store = out / STORE
    run = spec.run
    models = spec.models
    concurrency = ["--concurrency", str(run.concurrency)] if run.concurrency else []
    argv = ["graph.run", "--db", str(store), "--n", str(run.n), "--seed", str(run.seed), "--profile", run.profile,
            "--refiner", run.refiner, "--facets", ",".join(run.facets),
            *endpoint_args("--base-url", "--model", spec.models.backbone, embedded_url),
            *endpoint_args("--generator-base-url", "--generator-model", spec.models.generator, embedded_url),
            *concurrency]
    reads = {"run": run.model_dump(), "models.backbone": dump(spec.models.backbone),
             "models.generator": dump(spec.models.generator)}
    stages = [Stage("graphs", argv, reads, [store], servers=servers(models.backbone, models.generator),
                    grows=("run.n",), set_aside=store)]
    if spec.needs_teacher() and spec.models.teacher is not None:
        teacher = ["graph.run", "--db", str(store),
                   *endpoint_args("--base-url", "--model", spec.models.backbone, embedded_url),
                   *endpoint_args("--teacher-base-url", "--teacher-model", spec.models.teacher, embedded_url),
                   *concurrency]  # the run's bound holds for the teacher's calls too
        stages.append(Stage("teacher", teacher, {"models.teacher": dump(spec.models.teacher)}, [store],
                            depends_on=["graphs"], servers=servers(models.backbone, models.teacher)))
        stages.append(dataset("kd", store, out, ["teacher"]))
    stages.append(dataset("sr", store, out, ["graphs"]))
    return stages


def dataset(stage: str, store: Path, out: Path, after: list[str]) -> Stage:
    target = out / "data" / stage
    argv = ["training.data", "--db", str(store), "--stage", stage, "--out", str(target)]
    return Stage(f"{stage}_data", argv, {}, [target / "train.jsonl", target / "data_card.json"], depends_on=after)
