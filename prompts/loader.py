"""Prompt templates: package-data text files loaded by name, with `<<placeholder>>` slots.

`<<name>>` cannot collide with JSON braces in a prompt. A user's `prompts_dir` replaces any file of
the same name. Filling is strict: a slot without a value, or a value without a slot, is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SLOT = re.compile(r"<<([a-z_][a-z0-9_]*)>>")
# Beside the module rather than importlib.resources.files("prompts"): a tests/prompts dir on sys.path
# would otherwise resolve "prompts" to a namespace package with no templates in it.
PACKAGED_DIR = Path(__file__).parent
# The packaged template sets: the paper's (this folder) and, for small models, short templates without
# worked examples in `small/` (a template it lacks falls back to the paper's).
PROMPT_SETS = ("paper", "small")


class PromptError(ValueError):
    """A prompt that cannot be found or filled; str() is one line."""


@dataclass(frozen=True)
class Prompt:
    """A loaded template and the slots it declares."""

    name: str
    text: str
    source: str

    @property
    def slots(self) -> frozenset[str]:
        return frozenset(SLOT.findall(self.text))

    def render(self, **values: str) -> str:
        """Fill every slot; unknown or missing names raise PromptError."""
        slots = self.slots
        missing = slots - values.keys()
        if missing:
            raise PromptError(f"prompt {self.name!r} ({self.source}) needs a value for <<{sorted(missing)[0]}>>")
        unknown = values.keys() - slots
        if unknown:
            raise PromptError(
                f"prompt {self.name!r} ({self.source}) has no <<{sorted(unknown)[0]}>> slot; "
                f"add it to the template (slots: {', '.join(sorted(slots)) or 'none'})"
            )
        return SLOT.sub(lambda m: values[m.group(1)], self.text)


def _file_name(name: str) -> str:
    return name if "." in name else f"{name}.txt"


@lru_cache(maxsize=128)
def load_prompt(name: str, prompts_dir: Path | None = None, prompt_set: str = "paper") -> Prompt:
    """The template `name` from `prompts_dir` when it has that file, else the packaged one: from the
    `prompt_set` folder (e.g. `small/`) when it has that file, else the paper's."""
    fname = _file_name(name)
    if prompts_dir is not None:
        override = Path(prompts_dir) / fname
        if override.is_file():
            try:
                return Prompt(name, override.read_text(encoding="utf-8"), str(override))
            except UnicodeDecodeError:
                raise PromptError(f"prompt file {override} is not UTF-8 text") from None
        if not Path(prompts_dir).is_dir():
            raise PromptError(f"prompts_dir {prompts_dir} is not a directory; fix prompts_dir in your config")
    if prompt_set not in PROMPT_SETS:
        raise PromptError(f"unknown prompt set {prompt_set!r}; use one of {', '.join(PROMPT_SETS)}")
    variant = PACKAGED_DIR / prompt_set / fname
    if prompt_set != "paper" and variant.is_file():
        return Prompt(name, variant.read_text(encoding="utf-8"), f"packaged {prompt_set}/{fname}")
    packaged = PACKAGED_DIR / fname
    if not packaged.is_file():
        raise PromptError(f"no prompt named {name!r}; known prompts: {', '.join(available())}")
    return Prompt(name, packaged.read_text(encoding="utf-8"), f"packaged {fname}")


def available() -> list[str]:
    """Names of the packaged prompts."""
    return sorted(
        p.name.removesuffix(".txt") for p in PACKAGED_DIR.iterdir() if p.name.endswith((".txt", ".jinja"))
    )


def check_prompts_dir(prompts_dir: Path, own: frozenset[str] = frozenset()) -> None:
    """Refuse a prompts_dir that would fail or be ignored at run time: not a directory, a template file
    replacing no packaged prompt (a typo'd name; `own` lists names the config uses on purpose), or an
    override whose <<slots>> differ from the packaged template's (every call would fail)."""
    folder = Path(prompts_dir)
    if not folder.is_dir():
        raise PromptError(f"prompts_dir {folder} is not a directory; fix --prompts-dir or prompts_dir in your config")
    known = set(available())
    for path in sorted(folder.iterdir()):
        if not path.name.endswith((".txt", ".jinja")) or not path.is_file():
            continue
        name = path.name.removesuffix(".txt")
        if name not in known:
            if own & {name, path.name, path.stem}:
                continue
            raise PromptError(f"prompt file {path} replaces no packaged prompt; rename it to one of: {', '.join(sorted(known))}")
        override, packaged = load_prompt(name, folder), load_prompt(name)
        if override.slots != packaged.slots:
            want = ", ".join(f"<<{s}>>" for s in sorted(packaged.slots)) or "none"
            have = ", ".join(f"<<{s}>>" for s in sorted(override.slots)) or "none"
            raise PromptError(f"prompt file {path} has slots {have}; the {name!r} prompt must have exactly {want}")
