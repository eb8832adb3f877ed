"""`graph.queries --summary`: the sampled attributes against the paper's priors, value by value."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable

from state.attributes import Attributes
from state.priors import DISTRIBUTIONS, OTHER_COUNTRY, Priors


def expected(priors: Priors) -> dict[str, dict[str, float]]:
    """Marginal probability of every value the summary counts (intent and ICD-10 chapter included)."""
    home_p = priors.country.home_probability
    intents: dict[str, float] = {}
    for role, p in priors.role.items():
        group = priors.intents_for(role)
        for intent in group:
            intents[intent.name] = intents.get(intent.name, 0.0) + p / len(group)
    chapters = Counter(code[0] for code, _ in priors.codes)
    return {
        "role": dict(priors.role),
        "country": {priors.home_country: home_p, OTHER_COUNTRY: 1 - home_p},
        "setting": dict(priors.setting),
        "intent": intents,
        "icd10 chapter": {letter: count / len(priors.codes) for letter, count in sorted(chapters.items())},
        **{name: dict(getattr(priors, name)) for name in ("vagueness", "completeness", "style")},
    }


def observed(samples: Iterable[Attributes], home: str) -> tuple[int, dict[str, Counter[str]]]:
    """(number of samples, counts per attribute value) bucketed like `expected`."""
    counts: dict[str, Counter[str]] = {}
    n = 0
    for a in samples:
        n += 1
        values = {name: getattr(a, name) for name in DISTRIBUTIONS}
        values.update(country=a.country if a.country == home else OTHER_COUNTRY, intent=a.intent)
        values["icd10 chapter"] = a.icd10_code[0]
        for name, value in values.items():
            counts.setdefault(name, Counter())[value] += 1
    return n, counts


def print_summary(samples: Iterable[Attributes], priors: Priors, title: str) -> float:
    """Print the observed-vs-prior table; returns the largest gap in percentage points."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    n, counts = observed(samples, priors.home_country)
    table = Table(
        title=escape(title),
        caption=escape(
            f"{len(priors.codes):,} ICD-10 codes kept (excluded from {priors.icd10.exclude_from or '-'} on); "
            f"{OTHER_COUNTRY} = uniform over {len(priors.other_countries)} pycountry countries"
        ),
    )
    for col in ("attribute", "value", "prior", "observed", "gap (pp)"):
        table.add_column(col, justify="left" if col in ("attribute", "value") else "right")
    worst = 0.0
    for name, dist in expected(priors).items():
        got = counts.get(name, Counter())
        for value in [*dist, *(v for v in got if v not in dist)]:
            p, q = dist.get(value, 0.0), got[value] / n if n else 0.0
            worst = max(worst, abs(q - p) * 100)
            table.add_row(escape(name), escape(value), f"{p:.4f}", f"{q:.4f}", f"{(q - p) * 100:+.2f}")
        table.add_section()
    Console(width=None if sys.stdout.isatty() else 110).print(table)
    print(f"largest gap: {worst:.2f} percentage points over {n:,} samples", flush=True)
    return worst
