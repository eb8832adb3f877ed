"""TRL's SFTTrainer with MuSeR's run guards: stop on a non-finite loss, time the training steps.

The loss check costs nothing extra: transformers already reads every step's loss on the host to filter
NaN/inf out of its logs, which would otherwise hide a diverged run behind a finite-looking loss curve.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback
from trl import SFTTrainer

from training.errors import TrainingDiverged
from training.fingerprint import write

HINT = "lower --learning_rate or check the data; no final model was saved (earlier checkpoints are kept)"


def _any_rank(flag: bool, device: Any) -> bool:
    """True when `flag` is set on any process (so every rank stops together instead of hanging)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    torch.distributed.all_reduce(value)
    return bool(value.item() > 0)


class StepTimer(TrainerCallback):
    """Tokens seen and seconds spent between the first and the last training step of this session."""

    def __init__(self) -> None:
        self.started = self.ended = 0.0
        self.tokens_at_start = self.tokens_at_end = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self.tokens_at_start = int(state.num_input_tokens_seen or 0)
        self.started = time.perf_counter()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.ended = time.perf_counter()
        self.tokens_at_end = int(state.num_input_tokens_seen or 0)

    @property
    def tokens(self) -> int:
        return self.tokens_at_end - self.tokens_at_start

    @property
    def seconds(self) -> float:
        return max(0.0, self.ended - self.started)


class FingerprintWriter(TrainerCallback):
    """Stores the run's fingerprint in every checkpoint, so a later resume can tell if data or recipe changed."""

    def __init__(self, identity: dict[str, Any] | None) -> None:
        self.identity = identity

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.identity is not None and state.is_world_process_zero:
            write(Path(args.output_dir) / f"checkpoint-{state.global_step}", self.identity)


class GuardedSFTTrainer(SFTTrainer):
    """`SFTTrainer` that raises `TrainingDiverged` on the first non-finite training loss."""

    timer: StepTimer = StepTimer()  # replaced per run by training.sft
    original_template: str | None = None

    def training_step(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        loss = super().training_step(*args, **kwargs)
        bad = not bool(torch.isfinite(loss.detach()).all())
        if _any_rank(bad, loss.device):
            raise TrainingDiverged(
                f"training stopped at step {self.state.global_step + 1}: the loss is "
                f"{loss.detach().float().mean().item()} — {HINT}"
            )
        return loss

    def check_weights_finite(self) -> None:
        """Raise `TrainingDiverged` when any weight is NaN/inf (a last update can break a model silently)."""
        bad = False
        model: Any = self.model
        for param in model.parameters():
            local = getattr(param, "ds_tensor", None)  # ZeRO-3 keeps this rank's shard here
            tensor = local if local is not None else param
            if tensor.numel() and not bool(torch.isfinite(tensor.detach()).all()):
                bad = True
                break
        if _any_rank(bad, self.args.device):
            raise TrainingDiverged(f"training ended with non-finite weights — {HINT}")


def peak_memory_bytes() -> int | None:
    """This process's peak GPU memory since training began, None without CUDA."""
    return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None


def device_name() -> str | None:
    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def keep_within(lengths: Sequence[int], limit: int | None) -> list[int]:
    """Indices of the records whose token count fits `limit` (all of them when there is no limit)."""
    return [i for i, n in enumerate(lengths) if limit is None or n <= limit]


def drop_over_length(dataset: Any, limit: int | None) -> tuple[Any, int, list[int]]:
    """(dataset without records longer than `limit` tokens, how many were dropped, every record's length)."""
    if dataset is None:
        return None, 0, []
    lengths = [len(ids) for ids in dataset["input_ids"]]
    keep = keep_within(lengths, limit)
    if len(keep) == len(lengths):
        return dataset, 0, lengths
    return dataset.select(keep), len(lengths) - len(keep), lengths
