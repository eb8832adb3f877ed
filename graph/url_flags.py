"""One form for every URL-list flag of graph.* and eval.*: repeat the flag, list several after it, or
separate them with commas or spaces in one value; they add up in the order given."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any


def split_urls(values: Sequence[str]) -> list[str]:
    """'a,b' 'c d' → ['a', 'b', 'c', 'd'] (empty pieces dropped)."""
    return [part for value in values for part in value.replace(",", " ").split()]


class UrlList(argparse.Action):
    """argparse action: nargs='+', each value split on commas and spaces, appended to what is already there."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("nargs", "+")
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        given = [values] if isinstance(values, str) else list(values or [])
        current = list(getattr(namespace, self.dest, None) or [])
        setattr(namespace, self.dest, current + split_urls(given))
