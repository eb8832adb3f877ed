"""Serving: `python -m graph.serve` runs the embedded CPU model in the foreground, or builds (and runs)
the `vllm serve` command for GPUs; `endpoints_or_embedded` gives the other CLIs an endpoint when the
user named none.

    python -m graph.serve                                   # SmolLM2-135M on http://127.0.0.1:8765/v1
    python -m graph.serve --backend vllm --model Qwen/Qwen3-32B --tensor-parallel-size 4 --dry-run
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

from graph.embedded import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    STARTUP_TIMEOUT_S,
    EmbeddedServer,
    PortState,
    ServeError,
    embedded_model_path,
    loopback,
    probe,
)
from graph.vllm_cmd import AUTO, VLLM_PORT, reasoning_note, vllm_command

__all__ = [
    "EmbeddedServer",
    "ServeError",
    "embedded_model_path",
    "endpoints_or_embedded",
    "main",
    "sigterm_as_exit",
    "vllm_command",
]


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


def _reuse(url: str, port: int, log: Callable[[str], object]) -> bool:
    """True when an OpenAI-compatible server already answers on the port; raises if something else does."""
    state, models = probe(loopback(DEFAULT_HOST), port)
    if state is PortState.FOREIGN:
        raise ServeError(
            f"port {port} is in use by another program; pass --port with a free port "
            "or --base-url for a running OpenAI-compatible server"
        )
    if state is PortState.OPENAI:
        log(
            f"reusing the OpenAI-compatible server on {url} (models: {', '.join(models) or 'busy, not listed'})"
        )
    return state is PortState.OPENAI


@contextlib.contextmanager
def endpoints_or_embedded(
    base_urls: list[str],
    *,
    port: int | None = None,
    log: Callable[[str], object] = print,
    model_file: str | Path | None = None,
    startup_timeout: float = STARTUP_TIMEOUT_S,
) -> Iterator[list[str]]:
    """Yield base_urls unchanged when given; else reuse an embedded server already answering on its port
    (only if /v1/models answers like an OpenAI server), or start one, wait until /v1/models answers,
    yield [its base URL ending in /v1], and stop it on exit, including on KeyboardInterrupt and on error."""
    if base_urls:
        yield list(base_urls)
        return
    server = EmbeddedServer(
        port=DEFAULT_PORT if port is None else port, model_file=model_file, startup_timeout=startup_timeout
    )
    url = server.url
    if _reuse(url, server.port, log):
        yield [url]
        return
    log(f"starting the embedded model {server.alias} (llama.cpp, CPU) on {url} …")
    with sigterm_as_exit():
        try:
            server.start()
        except ServeError:
            if not _reuse(url, server.port, log):  # another run may have won the race for the port
                raise
            started = False
        else:
            started = True
            log(f"embedded server ready in {server.startup_seconds:.1f}s")
        try:
            yield [url]
        finally:
            if started:
                server.stop()
                log("embedded server stopped")


_EXAMPLES = """examples:
  python -m graph.serve                  # SmolLM2-135M on http://127.0.0.1:8765/v1; Ctrl-C stops it
  python -m graph.serve --backend vllm --model Qwen/Qwen3-32B --tensor-parallel-size 4 --dry-run
  python -m graph.serve --backend vllm --model openai/gpt-oss-120b -- --max-model-len 65536
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m graph.serve",
        description="Serve an OpenAI-compatible endpoint: the embedded SmolLM2-135M on CPU (default), or "
        "vLLM on GPUs. Arguments after `--` go to `vllm serve` unchanged.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EXAMPLES,
    )
    p.add_argument(
        "--backend",
        choices=["embedded", "vllm"],
        default="embedded",
        help="embedded: llama.cpp on this CPU; vllm: build and run `vllm serve` (default: embedded)",
    )
    p.add_argument("--host", help=f"listen address (embedded default {DEFAULT_HOST}; vllm default: vLLM's)")
    p.add_argument(
        "--port", type=int, help=f"listen port (embedded default {DEFAULT_PORT}, vllm default {VLLM_PORT})"
    )
    p.add_argument("--dry-run", action="store_true", help="print the server command and exit")
    e = p.add_argument_group("embedded backend")
    e.add_argument("--model-file", type=Path, help="another GGUF to serve instead of the packaged SmolLM2")
    e.add_argument("--chat-format", help="llama.cpp chat format (default: the template stored in the GGUF)")
    e.add_argument("--threads", type=int, help="CPU threads (default: all cores this process may use)")
    e.add_argument(
        "--startup-timeout",
        type=float,
        default=STARTUP_TIMEOUT_S,
        help="seconds to wait for /v1/models to answer (default %(default)s)",
    )
    e.add_argument("--quiet", action="store_true", help="do not echo the server's log lines")
    v = p.add_argument_group("vllm backend")
    v.add_argument("--model", help="Hugging Face id or local directory, e.g. Qwen/Qwen3-32B")
    v.add_argument("--tensor-parallel-size", type=int, default=1, help="GPUs per model replica")
    v.add_argument("--data-parallel-size", type=int, default=1, help="model replicas behind one endpoint")
    v.add_argument(
        "--reasoning-parser",
        default=AUTO,
        help="vLLM reasoning parser: auto (by model family), none, or a parser name",
    )
    v.add_argument("--served-model-name", help="model id clients send (default: the --model value)")
    return p


def _serve_embedded(args: argparse.Namespace) -> int:
    server = EmbeddedServer(
        model_file=args.model_file,
        host=args.host or DEFAULT_HOST,
        port=args.port or DEFAULT_PORT,
        chat_format=args.chat_format,
        threads=args.threads,
        startup_timeout=args.startup_timeout,
        echo=not args.quiet,
    )
    command = server.resolved_command()  # missing llama.cpp or model file: fail before announcing a start
    if args.dry_run:
        print(shlex.join(command))
        return 0
    print(f"starting {server.alias} on {server.url} …", file=sys.stderr, flush=True)
    try:
        with sigterm_as_exit():
            try:
                server.start()
                print(server.url, flush=True)
                print(f"ready in {server.startup_seconds:.1f}s; Ctrl-C stops it", file=sys.stderr, flush=True)
                code = server.wait()
                raise ServeError(
                    f"the embedded server stopped by itself (exit code {code}): {server.last_output()}"
                )
            finally:
                server.stop()
    except KeyboardInterrupt:
        print("embedded server stopped", file=sys.stderr)
    return 0


def _serve_vllm(args: argparse.Namespace, extra: list[str]) -> int:
    try:
        cmd = vllm_command(
            args.model,
            tensor_parallel_size=args.tensor_parallel_size,
            data_parallel_size=args.data_parallel_size,
            port=args.port or VLLM_PORT,
            host=args.host,
            reasoning_parser=args.reasoning_parser,
            served_model_name=args.served_model_name,
            extra_args=extra,
        )
    except ValueError as exc:
        raise ServeError(str(exc)) from None
    print(reasoning_note(args.model, args.reasoning_parser, extra), file=sys.stderr)
    print(shlex.join(cmd), flush=True)
    if args.dry_run:
        return 0
    exe = shutil.which("vllm")
    if exe is None:
        raise ServeError(
            "vLLM is not installed here (it needs NVIDIA GPUs): on a GPU machine run "
            "pip install -e '.[serve]', or add --dry-run to only print the command"
        )
    os.execv(exe, cmd)
    return 0  # not reached: exec replaces this process


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; a startup failure prints one line on stderr and returns 2."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in args_in:
        cut = args_in.index("--")
        args_in, extra = args_in[:cut], args_in[cut + 1 :]
    parser = build_parser()
    args = parser.parse_args(args_in)
    if args.backend == "vllm":
        if not args.model:
            parser.error("--backend vllm needs --model (a Hugging Face id or a local model directory)")
        if args.model_file:
            parser.error("--model-file is for the embedded backend; vLLM takes --model")
    elif args.model or extra:
        parser.error("--model and arguments after -- are for --backend vllm; a GGUF goes in --model-file")
    try:
        return _serve_vllm(args, extra) if args.backend == "vllm" else _serve_embedded(args)
    except ServeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
