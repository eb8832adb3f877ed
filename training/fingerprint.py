"""What a checkpoint was trained on (the data files' hash and the settings that shape training), so a resume
onto changed data or a changed recipe is refused instead of silently mixing two runs.

Steps and epochs are left out on purpose: extending a finished run is a legitimate resume.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from state.errors import InputError

FILE = "muser_fingerprint.json"
SETTINGS = (
    "learning_rate",
    "weight_decay",
    "optim",
    "lr_scheduler_type",
    "warmup_steps",
    "max_length",
    "seed",
    "padding_free",
    "completion_only_loss",
)


def file_digest(paths: list[Path | None]) -> str:
    """sha256 over the files' contents, in order (a missing file counts as empty)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(b"\x00file\x00")
        if path is not None and path.is_file():
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
    return digest.hexdigest()


def fingerprint(config: Any, model_path: str, files: list[Path | None], world_size: int) -> dict[str, Any]:
    """The run's identity as stored beside each checkpoint."""
    settings = {
        name: getattr(getattr(config, name, None), "value", getattr(config, name, None)) for name in SETTINGS
    }
    settings["model"] = model_path
    settings["effective_batch_size"] = (
        config.per_device_train_batch_size * config.gradient_accumulation_steps * world_size
    )
    return {"data_sha256": file_digest(files), "settings": settings}


def differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human-readable names of what changed between two fingerprints."""
    changed = ["the dataset files"] if stored.get("data_sha256") != current["data_sha256"] else []
    old = stored.get("settings") or {}
    for name, value in current["settings"].items():
        if name in old and old[name] != value:
            changed.append(f"{name} ({old[name]!r} → {value!r})")
    return changed


def check_resume(checkpoint: str, current: dict[str, Any], allowed: bool) -> None:
    """Refuse to resume from a checkpoint written for other data or settings, unless `allowed`."""
    stored_file = Path(checkpoint) / FILE
    if allowed or not stored_file.is_file():
        return
    try:
        stored = json.loads(stored_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    changed = differences(stored, current)
    if changed:
        raise InputError(
            f"{checkpoint} belongs to another run (changed: {', '.join(changed)}) — pass a new --output_dir, "
            "--resume_from_checkpoint false to start afresh, or --allow_changed_resume true to resume anyway"
        )


def write(checkpoint: Path, current: dict[str, Any]) -> None:
    if checkpoint.is_dir():
        (checkpoint / FILE).write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
