"""One-command GPU check of the two-stage SFT: `python -m training.gpu_smoke [--gpus N] [--out DIR]`.

Offline: a random-init model built from an architecture config, synthetic records, then stage kd under
ZeRO-3 and stage sr under ZeRO-2 through both launchers (deepspeed, accelerate), a reload + generate, and
a table of tokens/s per GPU, peak GPU memory and MFU read from each run's train_summary.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from state.errors import InputError, run_cli
from training.smoke.data import ARCHITECTURES, write_dataset, write_model
from training.smoke.plan import Launch, plan
from training.smoke.report import generate, render, row

ROOT = Path(__file__).resolve().parent
RECIPES = {"kd": ROOT / "recipes" / "qwen3-14b" / "kd.yaml", "sr": ROOT / "recipes" / "qwen3-14b" / "sr.yaml"}
ZERO = {"zero2": ROOT / "deepspeed" / "zero2.json", "zero3": ROOT / "deepspeed" / "zero3.json"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launcher_path(name: str) -> str:
    """A launcher's script beside this interpreter (a venv used without activating it), else on PATH; the
    bare name when neither has it."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name) or name


def command(
    run: Launch, gpus: int, args: argparse.Namespace, model: Path, data: Path, out: Path
) -> list[str]:
    """The exact command line of one run (launcher + `training.sft` + the smoke's overrides)."""
    processes = gpus if run.launcher != "python" else 1
    port = str(free_port())
    if run.launcher == "deepspeed":
        head = [launcher_path("deepspeed"), "--num_gpus", str(gpus), "--master_port", port, "--module", "training.sft"]
    elif run.launcher == "accelerate":
        multi = ["--multi_gpu"] if gpus > 1 else []
        head = [launcher_path("accelerate"), "launch", *multi, "--num_machines", "1", "--num_processes", str(gpus),
                "--main_process_port", port, "-m", "training.sft"]  # fmt: skip
    else:
        head = [sys.executable, "-m", "training.sft"]
    batch, accumulation = args.batch, args.accumulation
    tail = [
        "--config", str(RECIPES[run.stage]), "--model_name_or_path", str(model),
        "--dataset_dir", str(data), "--output_dir", str(out / run.name), "--max_steps", str(run.steps),
        "--per_device_train_batch_size", str(batch), "--gradient_accumulation_steps", str(accumulation),
        "--effective_batch_size", str(batch * accumulation * processes), "--max_length", str(args.max_length),
        "--eval_strategy", "no", "--save_strategy", "no", "--logging_steps", "1",
        "--resume_from_checkpoint", "false",
    ]  # fmt: skip
    tail += ["--deepspeed", str(ZERO[run.zero])] if run.zero else ["--deepspeed", ""]
    if args.cpu:
        tail += [
            "--bf16",
            "false",
            "--dtype",
            "float32",
            "--gradient_checkpointing",
            "false",
            "--use_cpu",
            "true",
        ]
    return head + tail


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.gpu_smoke",
        description="Offline GPU check of both SFT stages through both launchers; prints tokens/s, memory, MFU.",
    )
    parser.add_argument("--gpus", type=int, default=None, help="GPUs to use (default: every visible one)")
    parser.add_argument("--out", type=Path, default=Path("outputs/gpu-smoke"), help="work directory")
    parser.add_argument(
        "--arch", default="qwen3-0.6b", help=f"{' | '.join(ARCHITECTURES)} | a config.json (random init)"
    )
    parser.add_argument("--records", type=int, default=600, help="synthetic training records")
    parser.add_argument("--min-words", type=int, default=600)
    parser.add_argument("--max-words", type=int, default=2200)
    parser.add_argument("--max-length", type=int, default=4096, help="max_length (tokens) of every run")
    parser.add_argument("--batch", type=int, default=4, help="per-device batch")
    parser.add_argument("--accumulation", type=int, default=4, help="gradient accumulation steps")
    parser.add_argument("--kd-steps", type=int, default=30)
    parser.add_argument("--sr-steps", type=int, default=10)
    parser.add_argument(
        "--launchers", default="deepspeed,accelerate", help="comma list of deepspeed, accelerate, python"
    )
    parser.add_argument("--cpu", action="store_true", help="no GPU: one plain process, fp32, no DeepSpeed")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    launchers = [name.strip() for name in args.launchers.split(",") if name.strip()]
    unknown = sorted(set(launchers) - {"deepspeed", "accelerate", "python"})
    if unknown or not launchers:
        raise InputError(f"--launchers {args.launchers!r}: use deepspeed, accelerate and/or python")
    if args.cpu and launchers != ["python"]:
        raise InputError("--cpu runs one plain process: pass --launchers python with it")
    for name in (
        "records",
        "min_words",
        "max_words",
        "max_length",
        "batch",
        "accumulation",
        "kd_steps",
        "sr_steps",
    ):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.min_words > args.max_words:
        raise InputError(f"--min-words {args.min_words} is above --max-words {args.max_words}")
    if args.records <= 4:
        raise InputError("--records must be above 4 (4 records are held out for validation)")
    args.launcher_list = launchers
    return args


def visible_gpus(requested: int | None, cpu: bool) -> int:
    """How many GPUs the runs use; refuses a GPU run on a machine without CUDA."""
    if cpu:
        return 0
    import torch

    have = torch.cuda.device_count()
    if have == 0:
        raise InputError(
            "no CUDA GPU visible — this smoke is for GPU machines (`--dry-run` prints its commands; "
            "`--cpu --launchers python --arch tiny` checks the plumbing on CPU)"
        )
    if requested is not None and not 1 <= requested <= have:
        raise InputError(f"--gpus {requested}: this machine shows {have} GPU(s)")
    return requested or have


def main(argv: Sequence[str] | None = None) -> int:
    """Build the inputs, run every launch, reload + generate, print and store the report."""
    args = parse_args(argv)
    if not args.dry_run:
        for name in args.launcher_list:
            if name != "python" and launcher_path(name) == name:
                raise InputError(
                    f"`{name}` is neither beside this Python ({Path(sys.executable).parent}) nor on PATH — "
                    "install the train extra: pip install -e '.[train]'"
                )
    gpus = visible_gpus(args.gpus, args.cpu) if not args.dry_run else (args.gpus or 1)
    out: Path = args.out.resolve()
    runs = plan(args.launcher_list, args.kd_steps, args.sr_steps, zero=not args.cpu)
    model, kd_model = out / "base-model", out / runs[0].name
    data = {"kd": out / "data" / "kd", "sr": out / "data" / "sr"}
    commands = [
        command(run, gpus, args, model if run.stage == "kd" else kd_model, data[run.stage], out)
        for run in runs
    ]
    if args.dry_run:
        print("\n".join(shlex.join(cmd) for cmd in commands))
        return 0
    write_model(model, args.arch, args.seed)
    for offset, stage in enumerate(("kd", "sr")):
        write_dataset(data[stage], args.records, args.min_words, args.max_words, args.seed + offset)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT.parent), os.environ.get("PYTHONPATH", "")])}
    rows = []
    for run, cmd in zip(runs, commands, strict=True):
        print(f"== {run.name}: {shlex.join(cmd)}", flush=True)
        started = time.monotonic()
        code = subprocess.run(cmd, env=env, cwd=ROOT.parent).returncode
        summary_file = out / run.name / "train_summary.json"
        summary = json.loads(summary_file.read_text()) if code == 0 and summary_file.is_file() else None
        rows.append(row(run, summary, code, time.monotonic() - started))
    last = out / runs[-1].name
    text = generate(last, args.cpu) if rows[-1]["exit"] == 0 else None
    report = {"gpus": gpus, "arch": args.arch, "runs": rows, "generated": text}
    (out / "gpu_smoke.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(render(rows))
    print(f"reloaded {last.name} and generated: {text!r}" if text is not None else "no model to reload")
    return 0 if all(r["exit"] == 0 for r in rows) and text is not None else 1


if __name__ == "__main__":
    run_cli(main)
