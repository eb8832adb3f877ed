"""The `train` extra's lower bounds are versions the code runs on: install exactly those into a venv (over the
installed CPU torch) and run the recipes, the padding-free tests and the CPU training smoke there.

Slow: it downloads the floor wheels from PyPI (deepspeed builds from its sdist, without compiling ops).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

ROOT = Path(__file__).parents[2]
FLOOR = re.compile(r"^([A-Za-z0-9_.\-]+)\s*>=\s*([^,;\s]+)")
PINNED = re.compile(r"^([A-Za-z0-9_.\-]+)\s*==\s*([^,;\s]+)")


def declared_floors() -> dict[str, str]:
    """`{package: lower bound}` of every `>=` requirement in pyproject's `train` extra."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["train"]
    return {m.group(1).lower(): m.group(2) for req in extra if (m := FLOOR.match(req))}


def pinned() -> dict[str, str]:
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["train"]
    return {m.group(1).lower(): m.group(2) for req in extra if (m := PINNED.match(req))}


def test_every_training_framework_has_a_floor() -> None:
    floors = declared_floors()
    for name in ("transformers", "trl", "accelerate", "datasets", "deepspeed"):
        assert name in floors, f"the train extra declares no lower bound for {name}"
    assert pinned().get("torch"), "torch stays pinned so CPU machines keep the CPU build"


def test_cpu_training_on_the_declared_floor_versions(tmp_path: Path) -> None:
    floors = declared_floors()
    venv = tmp_path / "floors-venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in pinned().items()))
    # deepspeed ships an sdist whose build imports torch: build it here, against the installed CPU torch
    install = [python, "-m", "pip", "install", "--quiet", "--no-build-isolation", "-c", str(constraints)]
    subprocess.run([python, "-m", "pip", "install", "--quiet", "wheel"], check=True)
    proc = subprocess.run(
        [*install, *(f"{name}=={version}" for name, version in floors.items())],
        capture_output=True, text=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]

    probe = "import importlib.metadata as m, json, sys; print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    seen = json.loads(subprocess.run([python, "-c", probe, *floors, "torch"], capture_output=True, text=True,
                                     check=True).stdout)  # fmt: skip
    assert all(Version(seen[name]) == Version(floor) for name, floor in floors.items()), (
        seen
    )  # really the floors
    assert seen["torch"].split("+")[0] == pinned()["torch"]  # and the installed CPU torch, not a CUDA one
    print("floors:", json.dumps(seen))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    tests = ["tests/training/test_training_recipes.py", "tests/training/test_training_padding_free.py",
             "tests/training/test_training_guards.py"]  # fmt: skip
    proc = subprocess.run(
        [python, "-m", "pytest", "-q", *tests], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert proc.returncode == 0, proc.stdout[-4000:]

    out = tmp_path / "smoke"
    proc = subprocess.run(
        [python, "-m", "training.gpu_smoke", "--cpu", "--launchers", "python", "--arch", "tiny", "--records", "12",
         "--min-words", "20", "--max-words", "60", "--max-length", "512", "--kd-steps", "2", "--sr-steps", "1",
         "--batch", "2", "--accumulation", "1", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads((out / "gpu_smoke.json").read_text())
    assert all(run["exit"] == 0 for run in report["runs"]) and report["generated"] is not None
