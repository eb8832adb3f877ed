"""What every command that starts processes shares: how many cores it may use, and a child that dies with
its parent (so a parent killed outright, SIGKILL included, leaves no worker behind)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

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
