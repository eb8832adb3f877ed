"""An experiment spec: one versioned YAML file naming the models, the run, the training, the evaluation and
the rows of the result table. It is checked whole, later stages' fields included, before anything runs;
an unknown key or a bad value is refused in one line naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from state.config import FACETS, FacetName
from state.profiles import PROFILES

VERSION = 1
RECIPES = Path(__file__).resolve().parents[1] / "training" / "recipes"
Row = Literal["base", "+SR", "+KD", "+KD+SR"]
ROWS: tuple[Row, ...] = ("base", "+SR", "+KD", "+KD+SR")
OWNED_FLAGS = ("config", "dataset_dir", "model_name_or_path", "output_dir", "max_steps")  # set by the runner


class SpecError(ValueError):
    """A spec that cannot be used; str() is one line naming the file, the field and the fix."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Endpoint(Strict):
    """A running OpenAI-compatible server."""

    url: str = Field(description="Base URL, e.g. http://gpu1:8000/v1.")
    model: str | None = Field(None, description="Served model name (default: discovered from /v1/models).")

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url {url!r} must start with http:// or https://")
        return url.rstrip("/")


class Served(Strict):
    """A model the runner serves with vLLM on this machine for the experiment's stages, then stops."""

    serve: str = Field(min_length=1, description="A Hugging Face model name or a local model directory.")
    port: int = Field(8800, ge=1024, le=65535, description="Port on 127.0.0.1.")
    args: list[str] = Field(default_factory=list, description="Extra vLLM arguments, e.g. [--tensor-parallel-size, '4'].")

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


ModelRef = Annotated[Literal["embedded"] | Endpoint | Served,
                     Field(description="'embedded' (SmolLM2 on this CPU), {url, model} or {serve, port, args}.")]


class Models(Strict):
    backbone: ModelRef = Field("embedded", description="The model that answers, evaluates itself and refines.")
    generator: ModelRef | None = Field(None, description="The query generator (default: the backbone).")
    teacher: ModelRef | None = Field(None, description="The teacher whose answers make the KD data (none: no KD).")


class RunSpec(Strict):
    n: int = Field(ge=1, le=100_000_000, description="Queries (ids 0…n-1).")
    seed: int = Field(0, ge=0, description="Sampling seed of the attributes and queries.")
    profile: Literal["paper", "small"] = Field("paper", description=f"Settings profile: {', '.join(PROFILES)}.")
    refiner: Literal["directref", "contgen"] = Field("directref", description="How r' is produced.")
    facets: list[FacetName] = Field(default_factory=lambda: list(FACETS), description="Facet evaluators.")
    concurrency: int | None = Field(None, ge=1, le=100_000, description="Graphs in flight (default: graph.run's).")


class TrainStage(Strict):
    recipe: str = Field(description="A recipe under training/recipes (e.g. smollm2-135m/kd.yaml) or a YAML path.")
    max_steps: int | None = Field(None, ge=1, description="Optimizer steps (default: the recipe's).")
    args: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Recipe settings to override, as training.sft flags, e.g. "
        "{gradient_accumulation_steps: 1, effective_batch_size: 4}.")

    @field_validator("args")
    @classmethod
    def _flags(cls, args: dict[str, Any]) -> dict[str, Any]:
        for key in args:
            if key in OWNED_FLAGS or not key.replace("_", "").isalnum():
                raise ValueError(f"args.{key}: not a recipe setting the spec may set (the runner sets "
                                 f"{', '.join(OWNED_FLAGS)})")
        return args

    @field_validator("recipe")
    @classmethod
    def _exists(cls, recipe: str) -> str:
        if not (RECIPES / recipe).is_file() and not Path(recipe).is_file():
            known = ", ".join(sorted(str(p.relative_to(RECIPES)) for p in RECIPES.glob("*/*.yaml")))
            raise ValueError(f"no recipe {recipe!r}; use a file path or one of {known}")
        return recipe


class TrainSpec(Strict):
    base: str | None = Field(None, description="The model every row starts from (default: the kd recipe's).")
    kd: TrainStage | None = Field(None, description="Stage 1: SFT on the teacher's answers.")
    sr: TrainStage | None = Field(None, description="Stage 2: SFT on the refined answers.")
    launch: list[str] = Field(default_factory=list, description="`accelerate launch` flags for several "
                              "processes, e.g. [--multi_gpu, --num_processes, '8'] (default: one process).")


class EvalSpec(Strict):
    data: str = Field("bundled", description="'bundled' (the 500-example sample) or a HealthBench JSONL path.")
    n: int | None = Field(None, ge=1, description="A seeded sample of N examples (default: all).")
    grader: ModelRef = Field("embedded", description="The rubric grader.")
    hard: str | None = Field(None, description="The hard subset's JSONL, evaluated as well (into each row's store).")
    max_tokens: int | None = Field(None, ge=1, le=1_000_000, description="Each row's answer budget "
                                   "(default: eval.healthbench's, the paper's 40960).")
    grader_max_tokens: int | None = Field(None, ge=1, le=1_000_000, description="The grader's budget per item.")
    grader_prompt: Literal["reference", "muser"] | None = Field(None, description="The grader's prompt "
                                                                "(default: eval.healthbench's for the grader).")
    port: int = Field(8810, ge=1024, le=65531, description="Each row's model is served with vLLM on 127.0.0.1 "
                      "at this port plus its row's place (base 0, +SR 1, +KD 2, +KD+SR 3).")
    serve_args: list[str] = Field(default_factory=list, description="Extra vLLM arguments for the rows' servers.")

    @field_validator("data")
    @classmethod
    def _data(cls, data: str) -> str:
        if data != "bundled" and not Path(data).is_file():
            raise ValueError(f"no file {data!r}; give a HealthBench JSONL file or 'bundled'")
        return data

    @field_validator("hard")
    @classmethod
    def _hard(cls, hard: str | None) -> str | None:
        if hard is not None and not Path(hard).is_file():
            raise ValueError(f"no file {hard!r}; give the HealthBench hard subset's JSONL file")
        return hard


class Spec(Strict):
    version: Literal[1] = Field(description="Spec format version.")
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$", description="Experiment name.")
    models: Models = Field(default_factory=Models)
    run: RunSpec
    train: TrainSpec = Field(default_factory=TrainSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    rows: list[Row] = Field(default_factory=lambda: list(ROWS), description="Rows of the result table.")

    def needs_teacher(self) -> bool:
        return any("KD" in row for row in self.rows)


def where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not str(p).startswith(("literal[", "Endpoint", "function-"))) or "(top)"


def load_spec(path: Path) -> Spec:
    """The spec in `path`; SpecError (one line) for a missing file, bad YAML, unknown keys or bad values."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"spec {path}: no such file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"spec {path}: not a readable YAML file ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise SpecError(f"spec {path}: expected a mapping of fields (version, name, models, run, …)")
    if data.get("version") not in (None, VERSION):
        raise SpecError(f"spec {path}: version {data.get('version')!r} is not known; this runner reads version {VERSION}")
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        err = max(errors, key=lambda e: len(e["loc"]))  # the deepest: inside a union, the branch that fits best
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise SpecError(f"spec {path}: {where(err['loc'])}: {msg}; fix the spec") from None
    served: dict[int, Served] = {}
    for ref in (spec.models.backbone, spec.models.generator, spec.models.teacher, spec.eval.grader):
        if isinstance(ref, Served) and served.setdefault(ref.port, ref) != ref:
            raise SpecError(f"spec {path}: two served models on port {ref.port}; give each its own port")
    taken = sorted(set(served) & {spec.eval.port + ROWS.index(row) for row in spec.rows})
    if taken:
        raise SpecError(f"spec {path}: eval.port {spec.eval.port}: the rows' servers would take port {taken[0]}, "
                        f"which serves {served[taken[0]].serve}; move eval.port or that model")
    if "base" in spec.rows and not (spec.train.base or spec.train.kd or spec.train.sr):
        raise SpecError(f"spec {path}: row base needs a base model: set train.base (or a kd or sr recipe)")
    if len(set(spec.rows)) != len(spec.rows):
        raise SpecError(f"spec {path}: rows: each row once, please (got {', '.join(spec.rows)})")
    for stage, rows in (("kd", ("+KD", "+KD+SR")), ("sr", ("+SR", "+KD+SR"))):
        if getattr(spec.train, stage) is None and set(rows) & set(spec.rows):
            raise SpecError(f"spec {path}: rows {', '.join(r for r in spec.rows if r in rows)} need train.{stage} "
                            "(a recipe); add it or drop those rows")
    if spec.needs_teacher() and spec.models.teacher is None:
        raise SpecError(f"spec {path}: rows {', '.join(r for r in spec.rows if 'KD' in r)} need models.teacher; "
                        "name a teacher or drop those rows")
    return spec
