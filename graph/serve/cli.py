"""`python -m graph.serve`: the embedded SmolLM2-135M in the foreground (vLLM by default, llama.cpp on
request), or the vLLM server for a named model on GPUs.

    python -m graph.serve                                   # SmolLM2-135M on vLLM, http://127.0.0.1:8765/v1
    python -m graph.serve --backend llamacpp                # the same model on llama.cpp
    python -m graph.serve --backend vllm --model Qwen/Qwen3-32B --tensor-parallel-size 4 --dry-run
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from graph.serve import llamacpp, vllm
from graph.serve.command import AUTO, VLLM_PORT, reasoning_note, vllm_command
from graph.serve.embedded import DEFAULT_ENGINE, ENGINE_ENV, engine_name
from graph.serve.probe import DEFAULT_HOST
from graph.serve.process import DEFAULT_PORT, Launch, ServeError, ServerProcess, sigterm_as_exit

_EXAMPLES = """examples:
  python -m graph.serve                  # SmolLM2-135M on vLLM (CPU), http://127.0.0.1:8765/v1; Ctrl-C stops it
  python -m graph.serve --backend llamacpp --port 8777
  python -m graph.serve -- --reasoning-parser olmo3       # extra vLLM arguments after --
  python -m graph.serve --backend vllm --model Qwen/Qwen3-32B --tensor-parallel-size 4 --dry-run
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m graph.serve",
        description="Serve an OpenAI-compatible endpoint: the embedded SmolLM2-135M on this machine (vLLM by "
        "default, or llama.cpp), or vLLM for a named model on GPUs. Arguments after `--` go to vLLM unchanged.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EXAMPLES,
    )
    p.add_argument("--backend", choices=["vllm", "llamacpp", "embedded"], default="embedded",
                   help=f"engine; embedded = ${ENGINE_ENV} or {DEFAULT_ENGINE} (default: embedded)")
    p.add_argument("--host", help=f"listen address (embedded default {DEFAULT_HOST}; with --model: vLLM's)")
    p.add_argument("--port", type=int, help=f"listen port (embedded default {DEFAULT_PORT}, with --model {VLLM_PORT})")
    p.add_argument("--dry-run", action="store_true", help="print the server command and exit")
    p.add_argument("--startup-timeout", type=float, help="seconds to wait for /v1/models to answer")
    p.add_argument("--quiet", action="store_true", help="do not echo the server's log lines")
    e = p.add_argument_group("llamacpp backend")
    e.add_argument("--model-file", type=Path, help="another GGUF to serve instead of the packaged SmolLM2")
    e.add_argument("--chat-format", help="llama.cpp chat format (default: the template stored in the GGUF)")
    e.add_argument("--threads", type=int, help="CPU threads (default: all cores this process may use)")
    v = p.add_argument_group("vllm backend with a named model (GPU serving)")
    v.add_argument("--model", help="Hugging Face id or local directory, e.g. Qwen/Qwen3-32B")
    v.add_argument("--tensor-parallel-size", type=int, default=1, help="GPUs per model replica")
    v.add_argument("--data-parallel-size", type=int, default=1, help="model replicas behind one endpoint")
    v.add_argument("--reasoning-parser", default=AUTO, help="vLLM reasoning parser: auto (by model family), none, or a name")
    v.add_argument("--served-model-name", help="model id clients send (default: the --model value)")
    return p


def _foreground(launch: Launch, args: argparse.Namespace) -> int:
    server = ServerProcess(launch, host=args.host or DEFAULT_HOST, port=args.port or DEFAULT_PORT,
                           startup_timeout=args.startup_timeout, echo=not args.quiet)
    if args.dry_run:
        print(shlex.join(launch.command))
        return 0
    print(f"starting {server.alias} ({launch.engine}) on {server.url} …", file=sys.stderr, flush=True)
    try:
        with sigterm_as_exit():
            try:
                server.start()
                print(server.url, flush=True)
                print(f"ready in {server.startup_seconds:.1f}s; Ctrl-C stops it", file=sys.stderr, flush=True)
                code = server.wait()
                raise ServeError(f"the {launch.engine} server stopped by itself (exit code {code}): {server.last_output()}")
            finally:
                server.stop()
    except KeyboardInterrupt:
        print(f"{launch.engine} server stopped", file=sys.stderr)
    return 0


def _named_model(args: argparse.Namespace, extra: list[str]) -> int:
    try:
        cmd = vllm_command(args.model, tensor_parallel_size=args.tensor_parallel_size,
                           data_parallel_size=args.data_parallel_size, port=args.port or VLLM_PORT, host=args.host,
                           reasoning_parser=args.reasoning_parser, served_model_name=args.served_model_name,
                           extra_args=extra)
    except ValueError as exc:
        raise ServeError(str(exc)) from None
    print(reasoning_note(args.model, args.reasoning_parser, extra), file=sys.stderr)
    print(shlex.join(cmd), flush=True)
    if args.dry_run:
        return 0
    if importlib.util.find_spec("vllm") is None:
        raise ServeError("vLLM is not installed here: pip install -e '.[vllm]' (GPU machines: the vllm package), "
                         "or add --dry-run to only print the command")
    os.execv(cmd[0], cmd)
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
    try:
        backend = engine_name(None if args.backend == "embedded" else args.backend)
        if backend == "llamacpp":
            if args.model or extra:
                parser.error("--model and arguments after -- are for the vllm backend; a GGUF goes in --model-file")
            launch = llamacpp.launch(host=args.host or DEFAULT_HOST, port=args.port or DEFAULT_PORT,
                                           model_file=args.model_file, chat_format=args.chat_format, threads=args.threads)
            return _foreground(launch, args)
        if args.model_file:
            parser.error("--model-file is for --backend llamacpp; vLLM takes --model")
        if args.model:
            return _named_model(args, extra)
        launch = vllm.launch(host=args.host or DEFAULT_HOST, port=args.port or DEFAULT_PORT, extra_args=extra)
        return _foreground(launch, args)
    except ServeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

