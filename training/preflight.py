"""Checks that run before any model is loaded, so bad input fails in seconds with one clear line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from trl import ModelConfig

from state.errors import InputError
from training.cache import looks_local, resolve_model_ref
from training.fingerprint import check_resume, fingerprint
from training.guards import check_hyperparameters, model_placement
from training.sft_config import MuserSFTConfig

NO_RESUME = {"false", "no", "none", "never", "0"}


@dataclass(frozen=True)
class Plan:
    """What the run will use, resolved: the model to load, the data files, and the checkpoint to resume."""

    model_path: str
    output_dir: Path
    train_file: Path
    validation_file: Path | None
    resume_from: str | None
    world_size: int
    finished: bool = False
    fingerprint: dict | None = None


def check_dataset(config: MuserSFTConfig) -> tuple[Path, Path | None]:
    """The train file (must hold records) and the validation file (None when absent or empty)."""
    if not config.dataset_dir:
        raise InputError(
            "no dataset_dir set — add `dataset_dir: data/kd` to the recipe or pass --dataset_dir DIR"
        )
    folder = Path(config.dataset_dir)
    train = folder / "train.jsonl"
    hint = f"build it with `python -m training.data --db STORE --stage kd|sr --out {folder}`"
    if not train.is_file() or train.stat().st_size == 0:
        raise InputError(f"dataset {folder} has no records in train.jsonl — {hint}")
    with train.open(encoding="utf-8") as handle:
        first = handle.readline()
    try:
        record = json.loads(first)
        ok = isinstance(record, dict) and isinstance(record.get("messages"), list)
    except json.JSONDecodeError:
        ok = False
    if not ok:
        raise InputError(f"{train} is not a chat-record JSONL file (no `messages` list on line 1) — {hint}")
    validation = folder / "validation.jsonl"
    has_validation = validation.is_file() and validation.stat().st_size > 0
    return train, validation if has_validation else None


def check_model(model_args: ModelConfig, trust_remote_code: bool) -> str:
    """Resolve the model reference; a local directory must exist and hold a config.json."""
    ref = model_args.model_name_or_path
    if not ref:
        raise InputError("no model_name_or_path set — add it to the recipe or pass --model_name_or_path")
    path = resolve_model_ref(ref)
    local = Path(path)
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise InputError(
                f"model directory {path} has no config.json — point model_name_or_path at a saved model"
            )
        return path
    if looks_local(ref) or (local.parent.is_dir() and local.parent != Path(".")):
        raise InputError(
            f"model directory {path} does not exist — for the SmolLM2 base run `python -m training.prepare_base`; "
            "for stage sr run stage kd first (its output_dir is sr's model_name_or_path)"
        )
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(
            path, revision=model_args.model_revision, trust_remote_code=trust_remote_code
        )
    except Exception as exc:  # any failure to resolve a Hub id is the user's to fix
        raise InputError(
            f"model {ref} is neither a local directory nor loadable from the Hub ({type(exc).__name__}) — "
            "check the name, your network or HF_TOKEN"
        ) from None
    return path


def check_batch(config: MuserSFTConfig) -> int:
    """Refuse a run whose effective batch differs from the recipe's promise; return the world size."""
    world = int(config.world_size)
    actual = config.per_device_train_batch_size * config.gradient_accumulation_steps * world
    wanted = config.effective_batch_size
    if wanted is not None and actual != wanted:
        raise InputError(
            f"effective batch is {actual} (per_device_train_batch_size {config.per_device_train_batch_size} x "
            f"gradient_accumulation_steps {config.gradient_accumulation_steps} x {world} process(es)) but the "
            f"recipe asks for {wanted} — adjust --gradient_accumulation_steps for your GPU count"
        )
    return world


def output_dir(config: MuserSFTConfig) -> Path:
    """Where checkpoints and the final model go (transformers fills a default when the recipe has none)."""
    return Path(config.output_dir or "trainer_output")


def find_resume(config: MuserSFTConfig) -> str | None:
    """The checkpoint to resume: an explicit path, none when disabled, else the last one in output_dir."""
    from transformers.trainer_utils import get_last_checkpoint

    wanted = config.resume_from_checkpoint
    if wanted is not None and str(wanted).strip().lower() in NO_RESUME:
        return None
    if wanted:
        if not Path(wanted).is_dir():
            raise InputError(
                f"checkpoint {wanted} does not exist — drop --resume_from_checkpoint to auto-detect"
            )
        return str(wanted)
    out = output_dir(config)
    return get_last_checkpoint(str(out)) if out.is_dir() else None


def is_finished(checkpoint: str | None, config: MuserSFTConfig) -> bool:
    """True when the checkpoint already reached the run's last step and the final model is saved.

    Resuming from such a checkpoint would make transformers train one step past the end, so the
    run is skipped instead.
    """
    if checkpoint is None or not (output_dir(config) / "config.json").is_file():
        return False
    state_file = Path(checkpoint) / "trainer_state.json"
    if not state_file.is_file():
        return False
    state = json.loads(state_file.read_text(encoding="utf-8"))
    last = config.max_steps if config.max_steps > 0 else int(state.get("max_steps") or 0)
    return 0 < last <= int(state.get("global_step") or 0)


def preflight(config: MuserSFTConfig, model_args: ModelConfig) -> Plan:
    """Run every check; raises `InputError` on the first problem."""
    check_hyperparameters(config)
    if config.packing:
        raise InputError(
            "packing is not supported by training.sft: use `padding_free: true` (no padding either, and a "
            "batch still counts records as the paper's batch size does)"
        )
    train, validation = check_dataset(config)
    world = check_batch(config)
    model_placement(config, world)
    model_path = check_model(model_args, config.trust_remote_code)
    identity = fingerprint(config, model_path, [train, validation], world)
    resume = find_resume(config)
    if resume is not None:
        check_resume(resume, identity, config.allow_changed_resume)
    finished = is_finished(resume, config)
    return Plan(model_path, output_dir(config), train, validation, resume, world, finished, identity)
