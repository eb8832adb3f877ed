"""One-line errors for every command: what the user can fix (exit 2) and a run that failed (exit 1), printed as
`error: <one line>` on stderr, never a traceback. The lowest layer, so any entry point can raise them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

EXIT_INPUT_ERROR = 2
EXIT_RUN_FAILED = 1


class OneLineError(Exception):
    """An error whose message a command prints as one line."""

    def one_line(self) -> str:
        """The message flattened to a single line, as the CLIs print it."""
        return " ".join(str(self).split())


class InputError(OneLineError):
    """Bad input the user can fix; the message names what is wrong and what to do about it."""


class RunFailed(OneLineError):
    """The run itself failed (for instance, training diverged): it stops with exit 1 and saves nothing more."""


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> None:
    """Run a CLI `main`, turning an `InputError` into `error: <one line>` and exit status 2, and a
    `RunFailed` into the same line and exit status 1."""
    try:
        code = main(argv)
    except InputError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        sys.exit(EXIT_INPUT_ERROR)
    except RunFailed as exc:
        print(f"\nerror: {exc.one_line()}", file=sys.stderr)  # on its own line, after any progress bar
        sys.exit(EXIT_RUN_FAILED)
    sys.exit(code)
