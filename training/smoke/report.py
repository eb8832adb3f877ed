"""The GPU smoke's report: one row per run from its train_summary.json, a text table, a reload + generate."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.smoke.plan import Launch


def row(run: Launch, summary: dict[str, Any] | None, code: int, seconds: float) -> dict[str, Any]:
    """One line of the smoke's report from a run's train_summary.json (None when the run failed)."""
    speed = (summary or {}).get("throughput") or {}
    return {
        "run": run.name,
        "launcher": run.launcher,
        "zero": run.zero or "-",
        "exit": code,
        "steps": (summary or {}).get("global_step"),
        "first_loss": _rounded((summary or {}).get("first_loss")),
        "last_loss": _rounded((summary or {}).get("last_loss")),
        "tokens_per_s_per_gpu": speed.get("tokens_per_second_per_device"),
        "peak_mem_gib": speed.get("peak_memory_gib"),
        "mfu": speed.get("mfu"),
        "wall_s": round(seconds, 1),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def render(rows: Sequence[dict[str, Any]]) -> str:
    """The report as a fixed-width text table."""
    if not rows:
        return ""
    keys = list(rows[0])
    cells = [[("-" if r[k] is None else str(r[k])) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.ljust(w) for k, w in zip(keys, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cells_row, widths, strict=True)) for cells_row in cells]
    return "\n".join(lines)


def generate(model_dir: Path, cpu: bool) -> str:
    """Reload a trained model and greedily generate a few tokens (proves the saved model is whole)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() and not cpu else "cpu"
    tokenizer: Any = AutoTokenizer.from_pretrained(model_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir)
    model.to(device)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "fever cough child?"}], add_generation_prompt=True,
        return_tensors="pt", return_dict=True,
    ).to(device)  # fmt: skip
    out = model.generate(**prompt, max_new_tokens=8, do_sample=False)
    new = out[0, prompt["input_ids"].shape[1] :]
    if new.numel() == 0:
        raise RuntimeError(f"{model_dir} generated no token")
    return str(tokenizer.decode(new))
