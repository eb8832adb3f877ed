"""A local OpenAI-compatible server run as a child process on 127.0.0.1, whatever the engine behind it
(vllm.py, llamacpp.py): start it, wait until /v1/models answers, stop it and all it started.

The child lives in its own process group so that stopping it reaches everything it started, and the
terminal's Ctrl-C reaches only the parent, which then stops the child in order.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import IO

from graph.serve.probe import DEFAULT_HOST, PortState, loopback, probe
from state.processes import wait_group_gone

DEFAULT_PORT = 8765
STOP_GRACE_S = 5.0


class ServeError(RuntimeError):
    """A server could not be started or used; str() is one line saying what to do."""


@contextlib.contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """While the block runs, SIGTERM raises SystemExit(143) so `finally` blocks still stop child servers.
    Only from the main thread, and only where no one else has claimed SIGTERM."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


class _Tail:
    """Drains a pipe in a thread (so the child never blocks on a full pipe), keeping the last lines."""

    def __init__(self, stream: IO[bytes], echo: bool) -> None:
        self.lines: deque[str] = deque(maxlen=40)
        self._stream, self._echo = stream, echo
        self._thread = threading.Thread(target=self._run, name="embedded-server-stderr", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for raw in iter(self._stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self.lines.append(line)
                if self._echo:
                    print(line, file=sys.stderr, flush=True)
        self._stream.close()

    def last(self, timeout: float = 2.0) -> str:
        self._thread.join(timeout)
        return self.lines[-1] if self.lines else "(no output)"


def parent_death_hook() -> Callable[[], None] | None:
    """A pre-exec hook asking Linux to SIGTERM the child if this process dies without cleaning up.
    Armed only from the main thread: the signal follows the forking thread, not the process."""
    if sys.platform != "linux" or threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # loaded here: the child must not import
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return hook


@dataclass(frozen=True)
class Launch:
    """What an engine needs started: the command line, extra environment, the model id it serves, and how
    long its start may take."""

    command: list[str]
    alias: str
    engine: str
    env: dict[str, str] = field(default_factory=dict)
    unset: frozenset[str] = frozenset()  # environment variables the child must not see
    startup_timeout: float = 120.0


class ServerProcess:
    """One OpenAI-compatible server child process serving `launch` on host:port."""

    def __init__(self, launch: Launch, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 startup_timeout: float | None = None, echo: bool = False) -> None:
        self.launch, self.host, self.port, self.echo = launch, host, port, echo
        self.startup_timeout = launch.startup_timeout if startup_timeout is None else startup_timeout
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tail: _Tail | None = None

    @property
    def url(self) -> str:
        """Base URL for OpenAI clients, ending in /v1."""
        return f"http://{loopback(self.host)}:{self.port}/v1"

    @property
    def alias(self) -> str:
        return self.launch.alias

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> ServerProcess:
        """Start the child and return once /v1/models answers; on failure nothing is left running."""
        state, _ = probe(loopback(self.host), self.port)
        if state is PortState.OPENAI:
            raise ServeError(
                f"an OpenAI-compatible server already answers on {self.url}; use it "
                f"(--base-url {self.url}) or pass --port with a free port"
            )
        if state is PortState.FOREIGN:
            raise ServeError(f"port {self.port} is in use by another program; pass --port with a free port")
        env = {k: v for k, v in os.environ.items() if k not in self.launch.unset} | self.launch.env
        began = time.monotonic()
        self._proc = subprocess.Popen(
            self.launch.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
            preexec_fn=parent_death_hook(),
        )
        assert self._proc.stderr is not None
        self._tail = _Tail(self._proc.stderr, self.echo)
        try:
            self._wait_ready(began)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _wait_ready(self, began: float) -> None:
        proc, tail = self._proc, self._tail
        assert proc is not None and tail is not None
        while True:
            if _exited(proc):
                self.stop()
                raise ServeError(
                    f"the {self.launch.engine} server exited during startup (exit code {proc.returncode}): {tail.last()}"
                )
            if probe(loopback(self.host), self.port, timeout=2.0)[0] is PortState.OPENAI:
                return
            if time.monotonic() - began > self.startup_timeout:
                raise ServeError(
                    f"the {self.launch.engine} server did not answer on {self.url} within "
                    f"{self.startup_timeout:.0f}s; last output: {tail.last(0.1)}"
                )
            time.sleep(0.2)

    def wait(self) -> int:
        """Block until the child exits (foreground serving); returns its exit code."""
        assert self._proc is not None, "not started"
        return self._proc.wait()

    def last_output(self) -> str:
        return self._tail.last(0.5) if self._tail else "(no output)"

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM the process group, SIGKILL whatever is left after `grace` seconds; idempotent, and a
        second Ctrl-C while waiting only skips the grace period."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            _signal_group(proc.pid, signal.SIGTERM)
            _wait_unreaped(proc, grace)
        finally:
            # The leader is not reaped yet, so its group id cannot have been reused by another process.
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
            wait_group_gone(proc.pid, grace)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _exited(proc: subprocess.Popen[bytes]) -> bool:
    """True once the child has exited, without reaping it: until `stop` reaps the leader, its process
    group id cannot be handed to another process, so signalling the group stays safe."""
    if proc.returncode is not None:
        return True
    if not hasattr(os, "waitid"):
        return proc.poll() is not None
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _wait_unreaped(proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _exited(proc) and time.monotonic() < deadline:
        time.sleep(0.05)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
