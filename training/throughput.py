"""Throughput figures for train_summary.json: tokens/s per device, peak memory, model-FLOPs utilisation.

MFU follows the usual convention: 6 x parameters x tokens/s (forward + backward of the dense layers,
attention's own FLOPs and activation recomputation not counted) over the device's dense bf16 peak.
"""

from __future__ import annotations

import os
from typing import Any

PEAK_ENV = "MUSER_PEAK_TFLOPS"
# dense bf16 peak TFLOPS by a distinctive part of torch.cuda.get_device_name(); the first match wins
PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("B200", 2250.0),
    ("GH200", 989.0),
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),
    ("H800", 989.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
)


def peak_tflops(device_name: str | None) -> float | None:
    """The dense bf16 peak of a device (`$MUSER_PEAK_TFLOPS` wins), None when unknown or on CPU."""
    override = os.environ.get(PEAK_ENV)
    if override:
        try:
            value = float(override)
        except ValueError:
            return None
        return value if value > 0 else None
    if not device_name:
        return None
    for part, tflops in PEAK_TFLOPS:
        if part.lower() in device_name.lower():
            return tflops
    return None


def throughput(
    tokens: int,
    seconds: float,
    parameters: int,
    processes: int,
    peak: float | None,
    peak_memory_bytes: int | None = None,
) -> dict[str, Any]:
    """Summary fields from tokens seen by all processes in `seconds` of training."""
    processes = max(1, processes)
    per_device = tokens / seconds / processes if seconds > 0 else 0.0
    achieved = 6.0 * parameters * per_device / 1e12
    return {
        "tokens": int(tokens),
        "train_seconds": round(seconds, 2),
        "tokens_per_second": round(tokens / seconds, 1) if seconds > 0 else 0.0,
        "tokens_per_second_per_device": round(per_device, 1),
        "parameters": int(parameters),
        "model_tflops_per_device": round(achieved, 3),
        "peak_tflops_per_device": peak,
        "mfu": round(achieved / peak, 4) if peak else None,
        "peak_memory_gib": round(peak_memory_bytes / 2**30, 2) if peak_memory_bytes is not None else None,
    }


def count_parameters(model: Any) -> int:
    """Parameters of a model, including those ZeRO-3 has partitioned away (`ds_numel`)."""
    return sum(int(getattr(p, "ds_numel", 0) or p.numel()) for p in model.parameters())
