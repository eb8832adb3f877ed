"""What a training run reports: its resolved settings (logged and stored) and its train_summary.json parts."""

from __future__ import annotations

from typing import Any

from trl import ModelConfig

from training.dataset.card import percentiles
from training.preflight import Plan
from training.sft_config import MuserSFTConfig


def _plain(value: Any) -> Any:
    """An enum's value (transformers stores optimizer and scheduler names as enums)."""
    return getattr(value, "value", value)


def resolved_settings(config: MuserSFTConfig, model_args: ModelConfig, plan: Plan) -> dict[str, Any]:
    """The settings that define the run, logged at start and stored beside the model."""
    return {
        "model": plan.model_path,
        "dataset_dir": config.dataset_dir,
        "output_dir": str(plan.output_dir),
        "resume_from": plan.resume_from,
        "learning_rate": config.learning_rate,
        "num_train_epochs": config.num_train_epochs,
        "max_steps": config.max_steps,
        "effective_batch_size": config.per_device_train_batch_size
        * config.gradient_accumulation_steps
        * plan.world_size,
        "per_device_train_batch_size": config.per_device_train_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "world_size": plan.world_size,
        "optim": _plain(config.optim),
        "weight_decay": config.weight_decay,
        "lr_scheduler_type": _plain(config.lr_scheduler_type),
        "warmup_steps": config.warmup_steps,
        "max_length": config.max_length,
        "bf16": config.bf16,
        "dtype": model_args.dtype,
        "deepspeed": config.deepspeed if isinstance(config.deepspeed, str) else bool(config.deepspeed),
        "completion_only_loss": config.completion_only_loss,
        "seed": config.seed,
    }


def loss_summary(
    log_history: list[dict[str, Any]], metrics: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """First/last/min training loss and step counts from the trainer's log history."""
    losses = [(e["step"], e["loss"]) for e in log_history if "loss" in e and "step" in e]
    evals = [e["eval_loss"] for e in log_history if "eval_loss" in e]
    return {
        "steps_logged": len(losses),
        "first_loss": losses[0][1] if losses else None,
        "last_loss": losses[-1][1] if losses else None,
        "min_loss": min(loss for _, loss in losses) if losses else None,
        "losses": [{"step": step, "loss": loss} for step, loss in losses],
        "last_eval_loss": evals[-1] if evals else None,
        "global_step": max((e.get("step", 0) for e in log_history), default=0),
        "train_runtime_s": metrics.get("train_runtime"),
        "wall_time_s": round(seconds, 1),
    }


def length_report(lengths: list[int], dropped: int, limit: int | None) -> dict[str, Any]:
    """Token lengths of the training records as tokenized, and how many were over `max_length`."""
    return {
        "records": len(lengths) - dropped,
        "dropped_over_max_length": dropped,
        "max_length": limit,
        "length_tokens": percentiles(lengths),
    }
