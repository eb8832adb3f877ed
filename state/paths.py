"""Path identity for the rule "an output never overwrites an input": two paths name one file when they reach the
same inode (symlinks, hard links, `./` against absolute paths, bind mounts), or, while the output does not exist
yet, the same real path. Plain path logic: stat only, nothing is opened or written."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

PathLike = str | os.PathLike[str]


def same_file(a: PathLike, b: PathLike) -> bool:
    """True when `a` and `b` are (or, for a path not there yet, would be) one file."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


Named = Iterable[tuple[str, "PathLike | None"]]


def clobbered_input(outputs: Named, inputs: Named) -> str | None:
    """One line naming the first output that is one of the inputs, or None. Each pair is (the flag the user
    gave, e.g. "--out", the path); inputs not given (None) or not there (reported elsewhere) are skipped."""
    given = [(flag, path) for flag, path in inputs if path is not None and os.path.exists(path)]
    for out_flag, out in outputs:
        for in_flag, path in given:
            if out is not None and same_file(out, path):
                return (f"{out_flag} {out} is the same file as the input {in_flag} {path}; writing it would destroy "
                        f"the input: pass another {out_flag}")
    return None


def files_in(flag: str, directory: PathLike, names: Iterable[str]) -> list[tuple[str, Path]]:
    """(flag, path) of each file a command writes into the `directory` given as `flag`, for clobbered_input."""
    return [(flag, Path(directory) / name) for name in names]
