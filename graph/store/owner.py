"""One running owner per store: an exclusive flock on `<real db path>.lock`, whose text names the holder,
and on the store file itself when it exists, so every path to one file (symlink, `./` or absolute, bind
mount, hard link) finds the same lock.

The kernel drops a flock when the last process holding it exits, even after kill -9, so a stale owner
never blocks a resume. Workers inherit the parent's locks (`Inherited`), so the store stays owned until
the last of them has exited. flock and SQLite's own (fcntl) locks do not interact on a local file system.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from graph.store.db import StoreError

_FILE_LOCKS: dict[int, tuple[int, bool]] = {}  # lock file fd → (store file fd, created)


def lock_path(db: Path) -> Path:
    """The lock file beside the store's real path: the same for every symlink or spelling of that path."""
    real = Path(os.path.realpath(db))
    return real.with_name(real.name + ".lock")


def describe(text: str) -> str:
    """The holder named by a lock file's text, in words."""
    try:
        info = json.loads(text)
        return f"{info['command']} (pid {info['pid']} on host {info['host']}, started {info['started']})"
    except (ValueError, KeyError, TypeError):
        return "another process (it has not written its name yet)"


def _open(path: Path, db: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot create the lock file {path} ({exc.strerror}); pass a --db in a writable directory") from None


def acquire(db: Path, command: str) -> int:
    """Take the store's lock or raise StoreError naming its live owner; returns the lock's fd."""
    if os.path.exists(db) and not os.path.isfile(db) and not os.path.isdir(db):
        raise StoreError(f"{db} is not a regular file (a device, pipe or socket); pass a file path for the store")
    path = lock_path(db)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot make the directory of {db} ({exc.strerror or exc}); pass a --db whose parent is a directory") from None
    while True:
        fd = _open(path, db)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = describe(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            os.close(fd)
            raise StoreError(f"{db} is in use by {holder}; wait for it to finish or stop it "
                             "(a killed run frees the store at once), or pass another --db") from None
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"cannot lock {path} ({exc.strerror}); keep the store on a local file system") from None
        try:  # a releasing owner may have unlinked the file between our open and flock: use the live one
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        _lock_file(db, fd)
    except StoreError:
        release(db, fd)
        raise
    info = {"command": command, "pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    return fd


def _lock_file(db: Path, fd: int) -> None:
    """Also flock the store file itself, opened for writing (created empty if new, which SQLite takes as a new
    database; a read-only store is refused here, before SQLite leaves -wal/-shm files beside it): a hard
    link has another path and lock file but the same inode. Held until release, after the SQLite connections
    of the owner are closed (closing it earlier could drop SQLite's own locks in this process)."""
    created = not os.path.lexists(db)
    try:
        own = os.open(db, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and not created:
            raise StoreError(f"{db} is read-only ({exc.strerror}); make it writable or copy it elsewhere, "
                             "or pass another --db") from None
        return  # not creatable here, or not a file: Store.open names the problem
    try:
        fcntl.flock(own, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(own)
        raise StoreError(f"{db} is in use by another process through another path to the same file (a hard link); "
                         "wait for it to finish or stop it, or pass another --db") from None
    _FILE_LOCKS[fd] = (own, created)


def release(db: Path, fd: int) -> None:
    """Remove the lock file (and a store file this owner created but never wrote), then drop the locks, in this
    order, so no one locks a file about to vanish."""
    lock_path(db).unlink(missing_ok=True)
    own, created = _FILE_LOCKS.pop(fd, (None, False))
    if own is not None:
        if created and os.fstat(own).st_size == 0 and not os.path.exists(f"{db}-wal"):
            Path(db).unlink(missing_ok=True)
        os.close(own)
    os.close(fd)


@contextmanager
def owned(db: Path, command: str | None = None) -> Iterator[int]:
    """Hold the store's lock for the block; yields the fd (to pass to workers as `Inherited(fd)`)."""
    fd = acquire(db, command or f"python -m {Path(sys.argv[0]).stem}")
    try:
        yield fd
    finally:
        release(db, fd)


class Inherited:
    """The owner's lock fds, handed to a spawned worker: the worker holds the same locks until it exits."""

    def __init__(self, fd: int) -> None:
        self.fds = [fd] + ([_FILE_LOCKS[fd][0]] if fd in _FILE_LOCKS else [])

    def __reduce__(self) -> tuple[Any, ...]:
        from multiprocessing.reduction import DupFd

        return (_adopt, tuple(DupFd(fd) for fd in self.fds))


def _adopt(*dups: Any) -> list[int]:
    return [int(dup.detach()) for dup in dups]
