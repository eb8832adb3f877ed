"""The gate's settings of the run a store holds, read back from its stored config, so that a build judges every
record as the run did: its `min_answer_words`, its word limits (`max_unknown_letters`, `max_word_letters`;
the defaults for a run stored before them), its templates (prompt set and `prompts_dir`) for `prompt_echo`,
and each call node's max_tokens (for rows stored without finish_reason).

A merged store whose runs differ in any of these but the token limits is refused in one line naming the
difference (build each run's store on its own); a `prompts_dir` that no longer exists is refused unless the user names where it is.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodes.gate.echo import template_index
from nodes.gate.rules import DEFAULT_MIN_WORDS, Settings
from nodes.gate.word_quality import WordLimits
from state.errors import InputError
from training.dataset.usage import token_limits

FIELDS = ("min_answer_words", "max_unknown_letters", "max_word_letters", "prompt_set", "prompts_dir")


@dataclass(frozen=True)
class RunSettings:
    """What the run judged by, as its config stored it (the defaults for a config that does not say)."""

    min_answer_words: int = DEFAULT_MIN_WORDS
    prompt_set: str = "paper"
    prompts_dir: str | None = None
    max_unknown_letters: float = WordLimits.max_unknown_letters
    max_word_letters: int = WordLimits.max_word_letters

    def gate(self, limits: dict[str, int], prompts_dir: Path | None = None) -> Settings:
        """The rules' settings; `prompts_dir` replaces the stored one (the user's --prompts-dir)."""
        where = prompts_dir if prompts_dir is not None else (Path(self.prompts_dir) if self.prompts_dir else None)
        return Settings(echo=template_index(where, self.prompt_set), min_answer_words=self.min_answer_words,
                        limits=limits, words=WordLimits(self.max_unknown_letters, self.max_word_letters))

    def card(self, prompts_dir: Path | None = None) -> dict[str, Any]:
        """The settings as the data card records them."""
        where = str(prompts_dir) if prompts_dir is not None else self.prompts_dir
        return {"min_answer_words": self.min_answer_words, "max_unknown_letters": self.max_unknown_letters,
                "max_word_letters": self.max_word_letters, "prompt_set": self.prompt_set, "prompts_dir": where}


def of_config(config: Any) -> RunSettings:
    if not isinstance(config, dict):
        return RunSettings()
    words = config.get("min_answer_words", DEFAULT_MIN_WORDS)
    where = config.get("prompts_dir")
    share = config.get("max_unknown_letters", WordLimits.max_unknown_letters)
    longest = config.get("max_word_letters", WordLimits.max_word_letters)
    return RunSettings(words if isinstance(words, int) else DEFAULT_MIN_WORDS, str(config.get("prompt_set") or "paper"),
                       str(where) if where else None,
                       float(share) if isinstance(share, int | float) else WordLimits.max_unknown_letters,
                       longest if isinstance(longest, int) else WordLimits.max_word_letters)


def stored_settings(conn: sqlite3.Connection, db_path: str | Path, prompts_dir: Path | None = None) -> RunSettings:
    """The one set of settings of the store's run(s); raises InputError for runs that differ or templates gone."""
    found: dict[RunSettings, str] = {}
    for key, text in conn.execute("SELECT run_key, config FROM runs ORDER BY run_key"):
        try:
            config = json.loads(text or "{}")
        except ValueError:
            config = {}
        found.setdefault(of_config(config), key)
    if len(found) > 1:
        (a, key_a), (b, key_b) = list(found.items())[:2]
        name = next(f for f in FIELDS if getattr(a, f) != getattr(b, f))
        raise InputError(
            f"{db_path}: its runs judged records with different {name} ({key_a}: {getattr(a, name)!r}, "
            f"{key_b}: {getattr(b, name)!r}); build a dataset from each run's own store"
        )
    settings = next(iter(found), RunSettings())
    if prompts_dir is not None and not Path(prompts_dir).is_dir():
        raise InputError(f"--prompts-dir {prompts_dir} is not a directory; pass the folder of the run's templates")
    if prompts_dir is None and settings.prompts_dir and not Path(settings.prompts_dir).is_dir():
        raise InputError(
            f"{db_path}: the run's prompts_dir {settings.prompts_dir} no longer exists, and prompt_echo must judge with "
            "the templates the run used; pass --prompts-dir DIR where they are now"
        )
    return settings


def gate_settings(conn: sqlite3.Connection, db_path: str | Path, prompts_dir: Path | None = None) -> tuple[Settings, dict[str, Any]]:
    """(the rules' settings, the card's record of them) for the store behind `conn`."""
    settings = stored_settings(conn, db_path, prompts_dir)
    return settings.gate(token_limits(conn), prompts_dir), settings.card(prompts_dir)
