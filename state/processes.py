"""What every command that starts processes shares: how many cores it may use, a child that dies with its
parent (so a parent killed outright, SIGKILL included, leaves no worker behind), and waiting until a
stopped process group is really gone."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def cpu_threads() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity where the OS reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def die_with_parent(parent: int, signum: int = signal.SIGTERM) -> None:
    """In a child: ask the kernel for `signum` when the parent dies (Linux); exit now if it is already gone
    (it died before the request took effect). `parent` is the parent's pid, read before the fork."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    if os.getppid() != parent:
        os._exit(0)


def wait_group_gone(pgid: int, timeout: float) -> None:
    """Wait until no process of the group still runs: a signal is delivered when its target is next
    scheduled, so a loaded machine can return from kill() while a worker still holds memory or a GPU."""
    deadline = time.monotonic() + timeout
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, read from /proc; empty where there is no /proc."""
    members: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(stat.parent.name))
    return members
