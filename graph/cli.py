"""What every command shares: endpoint/config flags, config resolution and one-line error exits."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from graph.url_flags import UrlList
from nodes.llm.client import LLMError
from prompts.loader import PromptError
from state.config import EMBEDDED_PROFILE, FACETS, RunConfig
from state.profiles import PROFILES
from state.resolve import ConfigError, deep_merge, resolve_config

if TYPE_CHECKING:
    from graph.serve.embedded import Embedded

EXIT_USAGE = 2
EXIT_STOPPED = 3


def add_run_args(parser: argparse.ArgumentParser) -> None:
    """Flags that select the model and shape the graph (they override YAML and MUSER_* variables)."""
    parser.add_argument("--config", type=Path, help="YAML config file (see README: Configuration).")
    parser.add_argument("--base-url", action=UrlList, dest="base_urls", metavar="URL",
                        help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 (repeat for several). "
                             "Omitted: the embedded SmolLM2 server is started.")
    parser.add_argument("--model", help="Served model name (default: discovered from /v1/models).")
    parser.add_argument("--refiner", help="directref (default) or contgen.")
    parser.add_argument("--facets", help=f"Comma-separated facets to evaluate (default: {','.join(FACETS)}).")
    parser.add_argument("--client", help="http (default, aiohttp) or langchain (ChatOpenAI).")
    parser.add_argument("--prompts-dir", type=Path, help="Directory of prompt files overriding the packaged ones.")
    parser.add_argument("--max-tokens", type=int, help="Max new tokens for every call (overrides the config).")
    parser.add_argument("--profile", choices=PROFILES, help="Named settings: paper (default, Appendix B) or small "
                        "(a small model on any OpenAI-compatible server: short budgets, prefill, query grammar).")


def cli_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted config keys set by the flags of add_run_args (None = not given)."""
    facets = [f.strip() for f in args.facets.split(",") if f.strip()] if args.facets else None
    return {
        "endpoint.base_urls": args.base_urls,
        "endpoint.model": args.model,
        "refiner": args.refiner,
        "facets": facets,
        "client": args.client,
        "prompts_dir": args.prompts_dir,
        "sampling.max_tokens": args.max_tokens,
        "profile": getattr(args, "profile", None),
    }


def embedded_profile(embedded: Embedded) -> dict[str, Any]:
    """The small-model profile plus what the embedded server's engine needs."""
    return deep_merge(EMBEDDED_PROFILE, embedded.profile)


def resolve_from_args(args: argparse.Namespace, base_urls: list[str] | None = None, embedded: Embedded | None = None,
                      extra: dict[str, Any] | None = None, base: dict[str, Any] | None = None) -> RunConfig:
    """The run config from defaults < base (a stored run) or the embedded profile < YAML < env < flags."""
    cli = cli_overrides(args)
    if base_urls is not None:
        cli["endpoint.base_urls"] = base_urls
    cli.update(extra or {})
    profile = base if base is not None else (embedded_profile(embedded) if embedded else None)
    return resolve_config(args.config, cli, profile=profile)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one line to stderr and exit non-zero."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def known_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ConfigError, LLMError, PromptError]
    try:
        from graph.serve.process import ServeError

        errors.append(ServeError)
    except ImportError:  # pragma: no cover - serve module always ships
        pass
    from graph.store.db import StoreError

    errors.append(StoreError)
    return tuple(errors)


def run_cli(main: Callable[[], int | None]) -> NoReturn:
    """Run a command's main(); known errors become one line on stderr with exit code 2."""
    try:
        code = main()
    except known_errors() as exc:
        stage = exc.extra.get("stage") if isinstance(exc, LLMError) else None
        fail(f"{stage}: {exc}" if stage else str(exc))
    except sqlite3.DatabaseError as exc:  # a page went bad after the store opened fine
        fail(f"the store could not be read or written ({exc}); it may be corrupt: restore it from a copy "
             "or pass another --db")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    raise SystemExit(code or 0)


@contextmanager
def endpoints(base_urls: list[str] | None, log: Callable[[str], None]) -> Iterator[tuple[list[str], Embedded | None]]:
    """(urls, embedded): the given URLs and None, or the embedded server's URL and what it is (started and
    stopped around the block)."""
    if base_urls:
        yield base_urls, None
        return
    from graph.serve.embedded import embedded_port, embedded_server
    from graph.serve.process import ServeError

    try:
        port = embedded_port()
    except ServeError as exc:
        fail(str(exc))
    with embedded_server(port=port, log=log) as embedded:
        yield [embedded.url], embedded


def arun(coro: Any) -> Any:
    """asyncio.run with a clean Ctrl-C."""
    return asyncio.run(coro)
