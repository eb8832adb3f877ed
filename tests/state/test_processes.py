"""state.processes on real processes: a child that asked to die with its parent does so even when the
parent is killed outright; a stopped process group counts as gone only when no live member is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from procfs import alive

from state.processes import group_members

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc; PR_SET_PDEATHSIG is Linux's")

ORPHAN = """
import os, signal, sys, time
from state.processes import die_with_parent
parent = os.getpid()
if os.fork() == 0:
    die_with_parent(parent, signal.SIGKILL)
    print(os.getpid(), flush=True)  # asked: from here on, the parent's death is this child's
    time.sleep(600)
    os._exit(0)
time.sleep(600)
"""


def test_a_child_dies_with_its_parent_killed_outright() -> None:
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        assert alive(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while alive(child):
            assert time.monotonic() < deadline, "the child outlived its parent"
            time.sleep(0.05)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


def test_a_child_whose_parent_is_already_gone_exits_at_once() -> None:
    """The parent died before the request could take effect: the child must not stay behind as an orphan."""
    code = "from state.processes import die_with_parent; die_with_parent(1); print('still running')"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_group_members_are_the_live_processes_of_a_group() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        assert group_members(sleeper.pid) == [sleeper.pid]
        assert os.getpid() not in group_members(sleeper.pid)
    finally:
        sleeper.kill()
    deadline = time.monotonic() + 10
    while group_members(sleeper.pid) and time.monotonic() < deadline:  # a zombie is not a member
        time.sleep(0.02)
    assert group_members(sleeper.pid) == []
    sleeper.wait()
