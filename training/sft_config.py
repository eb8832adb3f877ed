"""SFT configuration: TRL's `SFTConfig` plus the two fields MuSeR needs, parsed by TRL's own parser.

A recipe YAML sets defaults and CLI flags override them (`--config recipe.yaml --learning_rate 1e-5`);
an unknown recipe key is reported as one line before anything is loaded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from trl import ModelConfig, SFTConfig, TrlParser

from state.errors import InputError
from training.sft_help import short_help

RESERVED_KEYS = {"env"}  # TrlParser reads `env:` itself (environment variables to set)


@dataclass
class MuserSFTConfig(SFTConfig):
    """`trl.SFTConfig` with the dataset directory and the batch size the paper's recipe promises."""

    dataset_dir: str | None = field(
        default=None,
        metadata={"help": "Directory written by `python -m training.data` (train.jsonl, validation.jsonl)."},
    )
    allow_changed_resume: bool = field(
        default=False,
        metadata={
            "help": "Resume from a checkpoint even when the dataset files or the training settings changed since "
            "it was written (refused by default)."
        },
    )
    effective_batch_size: int | None = field(
        default=None,
        metadata={
            "help": "The paper's batch size for this stage. Training refuses to start unless "
            "per_device_train_batch_size x gradient_accumulation_steps x processes equals it."
        },
    )


DATACLASSES = (MuserSFTConfig, ModelConfig)


def known_keys() -> set[str]:
    """Every key a recipe may set: the init fields of the parsed dataclasses, plus `env`."""
    return {f.name for cls in DATACLASSES for f in dataclasses.fields(cls) if f.init} | RESERVED_KEYS


def read_recipe(path: str) -> dict[str, Any]:
    """Load a recipe YAML and reject unknown keys with a one-line error."""
    recipe = Path(path)
    if not recipe.is_file():
        raise InputError(f"recipe not found: {path} — pass --config training/recipes/<backbone>/<stage>.yaml")
    try:
        data = yaml.safe_load(recipe.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"recipe {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise InputError(f"recipe {path} must be a YAML mapping of SFT settings")
    unknown = sorted(set(data) - known_keys())
    if unknown:
        raise InputError(
            f"recipe {path} has unknown key(s): {', '.join(unknown)} — fix the spelling or remove them "
            "(`python -m training.sft --help` lists every valid key)"
        )
    return data


def config_path(argv: Sequence[str]) -> str | None:
    """The value of `--config` in argv, if any (TrlParser consumes it the same way)."""
    args = list(argv)
    for i, arg in enumerate(args):
        if arg == "--config":
            if i + 1 >= len(args):
                raise InputError(
                    "--config needs a recipe path, e.g. --config training/recipes/smollm2-135m/kd.yaml"
                )
            return args[i + 1]
        if arg.startswith("--config="):
            raise InputError(
                "write `--config PATH` (with a space): TRL's parser does not read `--config=PATH`"
            )
    return None


def parse_sft_args(argv: Sequence[str]) -> tuple[MuserSFTConfig, ModelConfig]:
    """Parse recipe + flags into (training config, model config), or raise `InputError` in one line.
    `--help` prints the short help (training/sft_help.py) and exits; `--help-all` TRL's full one."""
    if "-h" in argv or "--help" in argv:
        print(short_help(DATACLASSES))
        raise SystemExit(0)
    argv = ["--help" if a == "--help-all" else a for a in argv]
    path = config_path(argv)
    if path is not None:
        read_recipe(path)
    parser = TrlParser(
        cast(Any, DATACLASSES),
        prog="python -m training.sft",
        description="MuSeR SFT (stage kd or sr) on TRL's SFTTrainer. Start from a recipe: --config "
        "training/recipes/<backbone>/<stage>.yaml; any key below overrides it. See training/README.md.",
    )
    try:
        config, model_args = parser.parse_args_and_config(list(argv))
    except (ValueError, TypeError) as exc:
        raise InputError(f"bad training settings: {' '.join(str(exc).split())}") from None
    return config, model_args
