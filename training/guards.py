"""Settings a run refuses before it loads anything: non-finite optimisation values, impossible placements.

A learning rate of `inf` trains happily and saves all-NaN weights; these checks turn such values into one
line on stderr (exit 2) before a model is touched.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from state.errors import InputError

# (field, lower bound, whether the bound itself is allowed); every value must also be finite
BOUNDS: tuple[tuple[str, float, bool], ...] = (
    ("learning_rate", 0.0, False),
    ("weight_decay", 0.0, True),
    ("warmup_steps", 0.0, True),
    ("max_grad_norm", 0.0, True),
    ("adam_epsilon", 0.0, False),
    ("adam_beta1", 0.0, True),
    ("adam_beta2", 0.0, True),
    ("per_device_train_batch_size", 1.0, True),
    ("gradient_accumulation_steps", 1.0, True),
)


def _number(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"--{name} must be a number, got {value!r}") from None


def check_hyperparameters(config: Any) -> None:
    """Refuse non-finite or out-of-range optimisation settings (`InputError`, one line)."""
    for name, low, inclusive in BOUNDS:
        if not hasattr(config, name) or getattr(config, name) is None:
            continue
        value = _number(name, getattr(config, name))
        bad = not math.isfinite(value) or value < low or (value == low and not inclusive)
        if bad:
            need = f"{'at least' if inclusive else 'above'} {low:g}"
            raise InputError(
                f"--{name} is {value!r}: it must be a finite number {need} — fix the flag or recipe"
            )
    for name in ("adam_beta1", "adam_beta2"):
        if getattr(config, name, None) is not None and float(getattr(config, name)) >= 1.0:
            raise InputError(f"--{name} is {getattr(config, name)!r}: it must be below 1")
    if int(config.max_steps) == 0:  # transformers reads 0 as "use the epochs"; a user typing 0 means no training
        raise InputError(
            "--max_steps is 0: give a positive number of optimizer steps, or -1 (the default) to train "
            "--num_train_epochs"
        )
    epochs = _number("num_train_epochs", config.num_train_epochs)
    if int(config.max_steps) <= 0 and not (math.isfinite(epochs) and epochs > 0):
        raise InputError(
            f"--num_train_epochs is {epochs!r}: it must be a finite number above 0 (or set --max_steps)"
        )
    if config.max_length is not None and int(config.max_length) <= 0:
        raise InputError(f"--max_length is {config.max_length}: it must be a positive number of tokens")


def deepspeed_stage(deepspeed: Any) -> int | None:
    """The ZeRO stage of the DeepSpeed config (a path or a dict), None without DeepSpeed."""
    if not deepspeed:
        return None
    if isinstance(deepspeed, dict):
        data = deepspeed
    else:
        path = Path(str(deepspeed))
        if not path.is_file():
            raise InputError(
                f"DeepSpeed config {deepspeed} not found — use training/deepspeed/zero2.json or zero3.json "
                "(paths are relative to the repository root)"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"DeepSpeed config {deepspeed} is not valid JSON ({exc})") from None
    return int((data.get("zero_optimization") or {}).get("stage", 0))


def model_placement(config: Any, world_size: int) -> dict[str, Any]:
    """The `device_map` to load with: none under DeepSpeed or several processes (each rank holds its copy).

    TRL picks `device_map="auto"` for a single accelerate process, which ZeRO-3 cannot partition; a
    `device_map` the user set is refused under ZeRO-3 for the same reason.
    """
    stage = deepspeed_stage(config.deepspeed)
    user = (config.model_init_kwargs or {}).get("device_map")
    if stage == 3 and user is not None:
        raise InputError(
            "ZeRO-3 partitions the model itself: drop device_map from model_init_kwargs, or use "
            "training/deepspeed/zero2.json"
        )
    if stage is not None or world_size > 1:
        return {"device_map": None}
    return {}
