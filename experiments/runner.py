"""Plan and run an experiment's stages in order: skip what is done and unchanged, redo what changed (saying
why), rerun what was interrupted, and stop at the first failing stage naming its log."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from experiments.manifest import ExperimentError, Manifest, changed, fingerprint, versions
from experiments.stages import Stage
from graph.serve.process import parent_death_hook


@dataclass(frozen=True)
class Step:
    stage: Stage
    fingerprint: str
    action: str  # skip | run | redo | rerun
    why: str


def plan(stages: list[Stage], manifest: Manifest) -> list[Step]:
    """What each stage will do, in order; a stage's fingerprint includes those of the stages it depends on."""
    prints: dict[str, dict[str, Any]] = {}
    steps: list[Step] = []
    for stage in stages:
        mark = fingerprint(stage, prints)
        prints[stage.name] = {"fingerprint": mark}
        old = manifest.stages.get(stage.name)
        missing = [p for p in stage.outputs if not p.exists()]
        moving = [s.stage.name for s in steps if s.action != "skip" and s.stage.name in stage.depends_on]
        if old is None:
            steps.append(Step(stage, mark, "run", "new"))
        elif old.get("fingerprint") != mark or (moving and old.get("status") == "done"):
            steps.append(Step(stage, mark, "redo", why_redo(stage, old, moving)))
        elif old.get("status") != "done":
            was = "it was interrupted" if old.get("status") == "running" else f"it failed (exit {old.get('exit')})"
            steps.append(Step(stage, mark, "rerun", was))
        elif missing:
            steps.append(Step(stage, mark, "redo", f"its output {missing[0]} is missing"))
        else:
            steps.append(Step(stage, mark, "skip", "done, unchanged"))
    return steps


def why_redo(stage: Stage, old: dict[str, Any], moving: list[str]) -> str:
    fields = changed(old.get("reads", {}), stage.reads)
    if fields:
        return "changed: " + "; ".join(f"{key} {a!r} → {b!r}" for key, (a, b) in fields.items())
    if old.get("command") != stage.command():
        return "its command changed"
    return f"{', '.join(moving)} runs again" if moving else "an input file changed"


def grows_only(step: Step, old: dict[str, Any]) -> bool:
    """True when the only change is a larger value of a field the command continues from (graph.run --n)."""
    diff = changed(old.get("reads", {}), step.stage.reads)
    return bool(diff) and set(diff) <= set(step.stage.grows) and all(
        isinstance(a, int) and isinstance(b, int) and b >= a for a, b in diff.values())


def set_aside(path: Path, stage: str, out: Path, log: Any) -> None:
    """Move a redone stage's store or model directory under superseded/: never delete hours of work."""
    if not path.exists():
        return
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = out / "superseded" / f"{stage}-{stamp}" / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    for extra in path.parent.glob(f"{path.name}-*"):  # SQLite's -wal and -shm beside a store
        shutil.move(str(extra), str(target.parent / extra.name))
    shutil.move(str(path), str(target))
    log(f"      moved {path} to {target}")


def execute(steps: list[Step], manifest: Manifest, out: Path, servers: dict[str, Any], log: Any = print) -> None:
    """Run the steps in order; each server a step needs (`servers`: key → context factory) is started before
    it and kept while the next step to run needs it too, else stopped (training runs with no server up)."""
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    running: dict[str, ExitStack] = {}
    try:
        for at, step in enumerate(steps):
            stage = step.stage
            if step.action == "skip":
                log(f"skip  {stage.name}: {step.why}")
                continue
            log(f"{step.action:5} {stage.name}: {step.why}")
            old = manifest.stages.get(stage.name, {})
            if step.action == "redo" and stage.set_aside is not None and not grows_only(step, old):
                set_aside(stage.set_aside, stage.name, out, log)
            for key in stage.servers:
                if key not in running:
                    running[key] = ExitStack()
                    running[key].enter_context(servers[key]())
            run_stage(step, manifest, logs / f"{stage.name}.log", log)
            following = next((s for s in steps[at + 1:] if s.action != "skip"), None)
            keep = set(following.stage.servers) if following is not None else set()
            for key in [k for k in running if k not in keep]:  # started again when a later stage needs it
                running.pop(key).close()
    finally:
        for stack in running.values():
            stack.close()


def run_stage(step: Step, manifest: Manifest, log_path: Path, log: Any) -> None:
    stage = step.stage
    log(f"      {stage.command()}")
    manifest.record(stage.name, status="running", command=stage.command(), fingerprint=step.fingerprint,
                    reads=stage.reads, log=str(log_path), started=now(), exit=None, wall_s=None)
    start = time.monotonic()
    with log_path.open("a", encoding="utf-8") as handle:
        handle.write(f"\n== {now()} {step.action} {stage.name}: {stage.command()}\n")
        handle.flush()
        proc = subprocess.Popen([sys.executable, "-m", *stage.argv], stdout=handle, stderr=subprocess.STDOUT,
                                env=os.environ.copy(), preexec_fn=parent_death_hook())
        try:
            code = proc.wait()
        except BaseException:
            proc.terminate()
            proc.wait()
            raise
    wall = round(time.monotonic() - start, 1)
    status = "done" if code == 0 else "failed"
    manifest.record(stage.name, status=status, exit=code, wall_s=wall, finished=now(), versions=versions())
    if code != 0:
        raise ExperimentError(f"stage {stage.name} failed (exit {code}): {last_line(log_path)}; see {log_path}")
    log(f"      done in {wall:.1f} s")


def last_line(path: Path) -> str:
    lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
