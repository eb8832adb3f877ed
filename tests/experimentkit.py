"""What the experiment runner's tests share: the runner as a subprocess, the manifest's stages, and a
SIGKILL of the runner while a given stage's command runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from procfs import alive, children

ROOT = Path(__file__).resolve().parents[1]


def runner(*args: str | Path, wait: bool = True) -> Any:
    """`python -m experiments.run ARGS` from the checkout, with no MUSER_* variable of the caller's."""
    cmd = [sys.executable, "-m", "experiments.run", *map(str, args)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUSER_")}
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def stages(out: Path) -> dict[str, dict[str, Any]]:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))["stages"]  # type: ignore[no-any-return]


def kill_inside(proc: subprocess.Popen[bytes], out: Path, stage: str,
                ready: Callable[[], bool] = lambda: True) -> None:
    """SIGKILL the runner once `stage`'s command runs and `ready()` holds (the command has got somewhere);
    wait until that command has died with it. Waits on conditions, never on a fixed time."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if (out / "manifest.json").exists() and stages(out).get(stage, {}).get("status") == "running" \
                and children(proc.pid) and ready():
            break
        time.sleep(0.05)
    kids = children(proc.pid)
    assert kids and stages(out)[stage]["status"] == "running", f"{stage} was not running when the runner was killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 60
    while any(alive(k) for k in kids) and time.monotonic() < deadline:  # the stage's command dies with the runner
        time.sleep(0.05)
    assert not any(alive(k) for k in kids)
    assert stages(out)[stage]["status"] == "running"
