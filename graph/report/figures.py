"""Pure arithmetic of the run report: intervals, quantiles from counts, text heuristics, marginals.

Everything here takes plain numbers or strings, so each figure can be checked by hand in the tests.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

Z95 = 1.959963984540054  # two-sided 95% normal quantile
LOG_BUCKETS_PER_E = 100  # latency buckets: exp(1/100) ≈ 1% wide, so a percentile is exact to ±0.5%
OPENING_WORDS = 4
SECOND_PERSON = frozenset({"you", "your", "yours", "you're", "youre", "you've", "you'd", "you'll", "yourself"})
_SENTENCE_END = re.compile(r"(?<=[.!?\n])")
_WORD = re.compile(r"[a-z0-9']+")


def wilson(k: int, n: int, z: float = Z95) -> dict[str, Any]:
    """k successes out of n as {k, n, rate, low, high}: the Wilson score interval (95% by default).

    Wilson rather than the normal approximation because it stays inside [0, 1] and is honest for the
    small cells a breakdown by attribute produces; n = 0 gives rate/low/high None.
    """
    if n <= 0:
        return {"k": k, "n": n, "rate": None, "low": None, "high": None}
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # clamp: at k = 0 or k = n float rounding can put a bound a hair past p or outside [0, 1]
    return {"k": k, "n": n, "rate": p, "low": min(p, max(0.0, centre - half)), "high": max(p, min(1.0, centre + half))}


def quantile(counts: Mapping[Any, int], q: float) -> float | None:
    """The q-quantile (nearest rank: the smallest value with at least q·N values at or below it) of a
    value → count histogram; None when empty."""
    total = sum(counts.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    return max(counts)  # pragma: no cover - unreachable: seen reaches total


def describe(counts: Mapping[Any, int]) -> dict[str, Any]:
    """n, mean, min, p10/p50/p90, max of a value → count histogram (values exact, no binning)."""
    n = sum(counts.values())
    if n == 0:
        return {"n": 0, "mean": None, "min": None, "p10": None, "p50": None, "p90": None, "max": None}
    mean = sum(v * c for v, c in counts.items()) / n
    return {"n": n, "mean": mean, "min": min(counts), "p10": quantile(counts, 0.1), "p50": quantile(counts, 0.5),
            "p90": quantile(counts, 0.9), "max": max(counts)}


def log_bucket(ms: float) -> int:
    """Latency → bucket index, the SQL's rule: round(ln(max(ms, 0.01)) · 100), halves away from zero."""
    x = math.log(max(ms, 0.01)) * LOG_BUCKETS_PER_E
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def bucket_value(bucket: int) -> float:
    """The centre of a latency bucket in ms."""
    return math.exp(bucket / LOG_BUCKETS_PER_E)


def latency_percentiles(buckets: Mapping[int, int]) -> dict[str, float | None]:
    """p50/p90/p99 in ms from log buckets (±0.5%)."""
    values: Counter[float] = Counter()
    for b, c in buckets.items():
        values[bucket_value(b)] += c
    out: dict[str, float | None] = {}
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        v = quantile(values, q)
        out[name] = None if v is None else round(v, 1)
    return out


def opening(line: str | None, words: int = OPENING_WORDS) -> str:
    """A rationale's opening: its first `words` words, lower-cased, punctuation dropped, so that
    "We should ask about current medications." and "we should ask about allergies" cluster together."""
    return " ".join(_WORD.findall((line or "").lower())[:words])


def asks_question(text: str | None) -> bool:
    """The answer asks the user something: some sentence ends in "?" and speaks to the reader
    (you/your…). Rhetorical headings such as "What is croup?" do not count."""
    for sentence in _SENTENCE_END.split(text or ""):  # linear: no backtracking on long unpunctuated text
        if sentence.endswith("?") and SECOND_PERSON & set(_WORD.findall(sentence.lower())):
            return True
    return False


def marginals(cells: Iterable[tuple[Mapping[str, str], str, int, int]],
              attributes: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Facet trigger rates per value of each attribute.

    `cells` are (attribute values, facet, n readable verdicts, k that fired) for every combination
    seen; each attribute's table sums them over the other attributes and gives a Wilson interval.
    """
    attrs = list(attributes)
    sums: dict[str, dict[tuple[str, str], list[int]]] = {a: {} for a in attrs}
    for values, facet, n, k in cells:
        for a in attrs:
            acc = sums[a].setdefault((str(values.get(a)), facet), [0, 0])
            acc[0] += n
            acc[1] += k
    return {a: [{"value": v, "facet": f, **wilson(k, n)} for (v, f), (n, k) in sorted(sums[a].items())]
            for a in attrs}


def cost_usd(prompt_tokens: int, completion_tokens: int, price_in: float, price_out: float) -> float:
    """Dollars for the tokens at per-million-token prices."""
    return (prompt_tokens * price_in + completion_tokens * price_out) / 1_000_000


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None
