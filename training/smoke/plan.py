"""The GPU smoke's runs: stage kd under ZeRO-3, then stage sr under ZeRO-2, through each launcher."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Launch:
    """One training run of the smoke: which stage, through which launcher, under which ZeRO stage."""

    name: str
    stage: str
    launcher: str  # deepspeed | accelerate | python (one process, no launcher: for CPU checks)
    zero: str | None
    steps: int


def plan(launchers: Sequence[str], kd_steps: int, sr_steps: int, zero: bool) -> list[Launch]:
    """kd (ZeRO-3) then sr (ZeRO-2) through each launcher; the first launcher's kd feeds every sr run."""
    runs = [Launch(f"kd-{name}", "kd", name, "zero3" if zero else None, kd_steps) for name in launchers]
    runs += [Launch(f"sr-{name}", "sr", name, "zero2" if zero else None, sr_steps) for name in launchers]
    return runs
