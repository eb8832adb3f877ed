"""What a row's own text decides, judged a chunk at a time (in worker processes for a large store:
`training.dataset.workers`).

Everything here depends on one row alone: the gate's text rules (nodes/gate/rules.py, with the run's own
settings), the exact-duplicate key, HealthBench overlap and the query's MinHash signature. What depends on earlier rows
(is the key or a near copy already kept?) and the `truncated` rule (it reads the calls, which are not worth
sending) stay in the builder's process, in id order (`training.dataset.records`), so a build decides the
same with or without workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from nodes.gate.rules import AFTER_CALLS, BEFORE_CALLS, Record, Settings, first_reason
from training.dataset.decontam import Decontaminator
from training.dataset.filters import dedup_key, split_think
from training.dataset.neardup import Signer
from training.dataset.store import StageRow

Texts = tuple[str, str, str]  # a kept row's query, stored reasoning and stored answer


@dataclass
class Verdicts:
    """One chunk's per-row results, in the order of the texts judged (kept rows only)."""

    before: list[str | None]  # the gate's rules tried before `truncated` (nodes.gate.rules.BEFORE_CALLS); None: passed
    after: list[str | None]  # those tried after it (repetition, prompt_echo), for rows `before` passed
    keys: list[bytes]  # exact-duplicate keys
    contaminated: list[bool]
    band_keys: np.ndarray  # per row, one uint64 key per LSH band (no columns when near-dedup is off)
    lows: np.ndarray  # per row, the signature's low bytes (arrays: a list of ints costs 5x more to send)

    @cached_property
    def band_key_lists(self) -> list[list[int]]:
        """`band_keys` as Python ints, the band index's dict keys (converted once per chunk)."""
        return self.band_keys.tolist()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class RowJudge:
    """The per-row steps of one build, picklable so worker processes can hold a copy."""

    rules: bool  # False: only the rules before `truncated` (bench/gate.py measures the gate this way)
    settings: Settings
    bench: Decontaminator | None
    signer: Signer | None

    def __call__(self, texts: list[Texts]) -> Verdicts:
        before: list[str | None] = []
        after: list[str | None] = []
        keys: list[bytes] = []
        contaminated: list[bool] = []
        for query, stored_reasoning, stored_answer in texts:
            reasoning, answer = split_think(stored_reasoning, stored_answer)
            record = Record(query, reasoning, answer)
            before.append(first_reason(record, self.settings, BEFORE_CALLS))
            passed = before[-1] is None
            after.append(first_reason(record, self.settings, AFTER_CALLS) if passed and self.rules else None)
            keys.append(dedup_key(query, answer))
            contaminated.append(passed and self.bench is not None and self.bench.contaminated(query))
        if self.signer is None:
            none = np.empty((len(texts), 0), dtype=np.uint8)
            return Verdicts(before, after, keys, contaminated, none, none)
        band_keys, lows = self.signer.sign([t[0] for t in texts])
        return Verdicts(before, after, keys, contaminated, band_keys, lows)


def kept_texts(chunk: list[StageRow]) -> list[Texts]:
    """What a worker needs of a chunk: the kept rows' texts (rows the run dropped need no judging)."""
    return [(row.query, row.reasoning, row.answer) for row in chunk if row.kept]
