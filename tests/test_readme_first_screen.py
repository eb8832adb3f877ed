"""The README's first screen (80 lines) is the newcomer's: what the project does, the two commands and the
loop, the pipeline with t0, r0, t' and r' defined, and where to go next, each link pointing at a heading."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_the_first_80_lines_hold_the_commands_the_pipeline_and_the_way_on() -> None:
    text = README.read_text(encoding="utf-8")
    screen = "\n".join(text.splitlines()[:80])
    for needle in ("make demo", "make test", "make loop", "results.md", "t0 and r0", "t' is", "r' is",
                   "Where next"):
        assert needle in screen, needle
    headings = {anchor(line.lstrip("#")) for line in text.splitlines() if line.startswith("## ")}
    links = re.findall(r"\]\(#([^)]+)\)", screen)
    assert links and all(link in headings for link in links), sorted(set(links) - headings)
