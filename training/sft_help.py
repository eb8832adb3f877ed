"""`python -m training.sft --help`: the project's own flags and the few TrainingArguments a recipe run
changes, on one screen; `--help-all` prints TRL's full list (several hundred lines)."""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any

OWN = ("config", "dataset_dir", "effective_batch_size", "allow_changed_resume")
COMMON = ("model_name_or_path", "output_dir", "learning_rate", "num_train_epochs", "max_steps",
          "per_device_train_batch_size", "gradient_accumulation_steps", "max_length", "deepspeed",
          "resume_from_checkpoint", "save_strategy", "logging_steps")
CONFIG_HELP = "Recipe YAML: training/recipes/<backbone>/<stage>.yaml (any flag below overrides its keys)."


def _help_of(classes: tuple[Any, ...], name: str) -> str:
    for cls in classes:
        for f in dataclasses.fields(cls):
            if f.name == name:
                text = " ".join(str(f.metadata.get("help", "")).split())
                return text.split(". ")[0].rstrip(".") + "." if text else ""
    return ""


def short_help(classes: tuple[Any, ...]) -> str:
    """The short usage text, with each flag's help taken from its dataclass field."""
    lines = ["usage: python -m training.sft --config RECIPE.yaml [--flag value ...]", "",
             "MuSeR SFT (stage kd or sr) on TRL's SFTTrainer; see training/README.md.", "", "this project's flags:"]

    def add(name: str, text: str) -> None:
        lines.append(f"  --{name}")
        lines.extend(textwrap.wrap(text, 96, initial_indent="      ", subsequent_indent="      "))

    add("config", CONFIG_HELP)
    for name in OWN[1:]:
        add(name, _help_of(classes, name))
    lines += ["", "the TrainingArguments / ModelConfig flags recipes use most:"]
    for name in COMMON:
        add(name, _help_of(classes, name))
    lines += ["", "every other TrainingArguments, SFTConfig and ModelConfig flag: python -m training.sft --help-all"]
    return "\n".join(lines)
