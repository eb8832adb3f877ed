"""The training stages of an experiment, one `training.sft` run per trained row of the table:
KD SFT from the base (+KD), SR SFT from the KD model (+KD+SR), SR SFT from the base (+SR). Each resumes from
its own checkpoints when interrupted (training.sft does), and a larger max_steps continues it. With
`train.launch`, each runs under `accelerate launch` with those flags (several GPUs). When the base
is the packaged SmolLM2 (`cache:smollm2-135m-instruct`), a first stage converts it (training.prepare_base)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from experiments.spec import RECIPES, Spec, TrainStage
from experiments.stages import Stage
from training.cache import CACHE_PREFIX, SMOLLM2_NAME, resolve_model_ref

MODELS = "models"


def recipe_path(recipe: str) -> Path:
    packaged = RECIPES / recipe
    return packaged if packaged.is_file() else Path(recipe)


def recipe_model(recipe: str) -> str:
    """The model a recipe starts from (`model_name_or_path`)."""
    data: Any = yaml.safe_load(recipe_path(recipe).read_text(encoding="utf-8"))
    return str(data.get("model_name_or_path")) if isinstance(data, dict) else ""


def base_model(spec: Spec) -> str:
    """What every row starts from: `train.base`, else the KD recipe's model (else the SR recipe's)."""
    first = spec.train.kd or spec.train.sr
    return spec.train.base or (recipe_model(first.recipe) if first else "")


def sft(name: str, stage: TrainStage, field: str, data: Path, model: str, out_dir: Path,
        after: list[str], base: str, launch: list[str]) -> Stage:
    launcher = ["accelerate.commands.launch", *launch, "-m"] if launch else []
    argv = [*launcher, "training.sft", "--config", str(recipe_path(stage.recipe)), "--dataset_dir", str(data),
            "--model_name_or_path", model, "--output_dir", str(out_dir),
            *(["--max_steps", str(stage.max_steps)] if stage.max_steps else []),
            *(arg for key, value in stage.args.items() for arg in (f"--{key}", flag_value(value)))]
    reads = {f"train.{field}": stage.model_dump(), "train.base": base, **({"train.launch": launch} if launch else {})}
    return Stage(name, argv, reads, [out_dir / "config.json"], depends_on=after, files=[recipe_path(stage.recipe)],
                 set_aside=out_dir, grows=(f"train.{field}.max_steps",))


def flag_value(value: str | int | float | bool) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def prepare_stage(base: str) -> Stage | None:
    """`base`: the packaged SmolLM2 converted into the model cache, when the rows start from it."""
    if base != CACHE_PREFIX + SMOLLM2_NAME:
        return None
    return Stage("base", ["training.prepare_base"], {"train.base": base}, [Path(resolve_model_ref(base)) / "config.json"])


def training_stages(spec: Spec, out: Path) -> list[Stage]:
    """base (when needed), train_kd, train_kd_sr and train_sr, as the table's rows need them."""
    rows, base, models, launch = set(spec.rows), base_model(spec), out / MODELS, spec.train.launch
    data = out / "data"
    prepare = prepare_stage(base)  # every row needs the base: the base row is served from it
    stages, first = ([prepare], ["base"]) if prepare is not None else ([], [])
    if spec.train.kd is not None and rows & {"+KD", "+KD+SR"}:
        stages.append(sft("train_kd", spec.train.kd, "kd", data / "kd", base, models / "kd", [*first, "kd_data"],
                          base, launch))
    if spec.train.sr is not None and "+KD+SR" in rows:
        stages.append(sft("train_kd_sr", spec.train.sr, "sr", data / "sr", str(models / "kd"), models / "kd-sr",
                          ["train_kd", "sr_data"], base, launch))
    if spec.train.sr is not None and "+SR" in rows:
        stages.append(sft("train_sr", spec.train.sr, "sr", data / "sr", base, models / "sr", [*first, "sr_data"],
                          base, launch))
    return stages
