"""User-fixable input errors and diverged runs, reported as one line on stderr with a non-zero exit (never a traceback)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

EXIT_INPUT_ERROR = 2
EXIT_RUN_FAILED = 1


class InputError(Exception):
    """Bad input the user can fix; the message names what is wrong and what to do about it."""

    def one_line(self) -> str:
        """The message flattened to a single line, as the CLIs print it."""
        return " ".join(str(self).split())


class TrainingDiverged(Exception):
    """The loss or the weights became non-finite: the run stops and saves no final model."""

    def one_line(self) -> str:
        return " ".join(str(self).split())


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> None:
    """Run a CLI `main`, turning an `InputError` into `error: <one line>` and exit status 2."""
    try:
        code = main(argv)
    except InputError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        sys.exit(EXIT_INPUT_ERROR)
    except TrainingDiverged as exc:
        print(f"\nerror: {exc.one_line()}", file=sys.stderr)  # on its own line, after any progress bar
        sys.exit(EXIT_RUN_FAILED)
    sys.exit(code)
