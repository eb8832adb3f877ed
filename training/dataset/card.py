"""The data card: what went into a dataset, what was dropped and why, and how long the texts are."""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nodes.gate.text import count_words
from training.dataset.filters import CLOSE_TAG, OPEN_TAG

PERCENTILES = (5, 50, 95, 100)
EXAMPLE_IDS = 5  # ids kept per drop reason, for `graph.trace --db STORE ID`


def percentiles(values: Sequence[int], points: Sequence[int] = PERCENTILES) -> dict[str, int]:
    """Nearest-rank percentiles (`p100` is the maximum); all zeros for an empty sequence."""
    ordered = sorted(values)
    out: dict[str, int] = {}
    for point in points:
        if not ordered:
            out[f"p{point}"] = 0
            continue
        rank = max(1, math.ceil(point / 100 * len(ordered)))
        out[f"p{point}"] = ordered[rank - 1]
    return out


@dataclass
class CardBuilder:
    """Accumulates counts and word lengths while records stream past, then renders the card."""

    dropped: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[int]] = field(default_factory=dict)
    splits: Counter[str] = field(default_factory=Counter)
    lengths: dict[str, array[int]] = field(
        default_factory=lambda: {name: array("L") for name in ("query", "reasoning", "answer")}
    )
    tokens: array[int] = field(default_factory=lambda: array("L"))

    def add_drop(self, reason: str, record_id: int | None = None) -> None:
        self.dropped[reason] += 1
        ids = self.examples.setdefault(reason, [])
        if record_id is not None and len(ids) < EXAMPLE_IDS:
            ids.append(record_id)

    def add_record(self, record: dict[str, Any], split: str, tokens: int | None = None) -> None:
        self.splits[split] += 1
        if tokens is not None:
            self.tokens.append(tokens)
        query = record["messages"][0]["content"]
        reasoning, _, answer = record["messages"][-1]["content"].partition(CLOSE_TAG)
        self.lengths["query"].append(count_words(query))
        self.lengths["reasoning"].append(count_words(reasoning.replace(OPEN_TAG, "")))
        self.lengths["answer"].append(count_words(answer))

    def token_section(self, tokenizer: str, max_length: int | None) -> dict[str, Any]:
        """Token-length percentiles and how many records exceed `max_length` (training drops those)."""
        over = sum(1 for n in self.tokens if max_length is not None and n > max_length)
        return {
            "tokenizer": tokenizer,
            "percentiles": percentiles(self.tokens),
            "max_length": max_length,
            "over_max_length": over if max_length is not None else None,
        }

    def render(self, **provenance: Any) -> dict[str, Any]:
        written = self.splits["train"] + self.splits["validation"]
        return {
            **provenance,
            "counts": {
                "scanned": written + sum(self.dropped.values()),
                "written": written,
                "train": self.splits["train"],
                "validation": self.splits["validation"],
            },
            "dropped": dict(sorted(self.dropped.items())),
            "dropped_examples": dict(sorted(self.examples.items())),
            "length_words": {name: percentiles(values) for name, values in self.lengths.items()},
        }
