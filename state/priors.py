"""The paper's attribute priors (Appendix A, Tables 4-6): their pydantic model, validated on load and
precomputed into sampling tables, and the loader that merges a user's YAML over `state/priors.yaml`."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from state.catalogues import codes, countries
from state.resolve import ConfigError, deep_merge, parse_yaml_mapping

TOLERANCE = 1e-6
DISTRIBUTIONS = ("role", "setting", "vagueness", "completeness", "style")
OTHER_COUNTRY = "(another country)"
PACKAGED = Path(__file__).with_name("priors.yaml")  # beside the module, so a tests/state dir cannot shadow it
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Intent(BaseModel):
    """One user goal: its name (kept from the paper), what it means, and an illustrative query."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, description="Intent name as in the paper's Tables 5-6.")
    description: str = Field(
        min_length=1, description='What the user wants, verb first ("to …" in the prompt).'
    )
    example: str = Field(min_length=1, description="A sample query with this intent (documentation only).")


class IntentGroup(BaseModel):
    """The intents one or more roles draw from, uniformly."""

    model_config = ConfigDict(extra="forbid")
    roles: list[str] = Field(min_length=1, description="Roles (keys of `role`) that use this list.")
    intents: list[Intent] = Field(min_length=1, description="The intents, drawn uniformly.")


class CountryPrior(BaseModel):
    """A home country with a fixed probability; otherwise any other country, uniformly."""

    model_config = ConfigDict(extra="forbid")
    home: str = Field(description="Home country: a name or ISO code pycountry knows.")
    home_probability: float = Field(ge=0.0, le=1.0, description="Probability of the home country.")
    others: list[str] | None = Field(description="Other countries; None means all of pycountry but home.")


class Icd10Cut(BaseModel):
    """Which four-character ICD-10 codes count as diseases."""

    model_config = ConfigDict(extra="forbid")
    exclude_from: str | None = Field(pattern=r"^[A-Z]$", description="Drop codes from this letter on.")
    exclude_prefixes: list[str] = Field(description="Further code prefixes to drop.")


@dataclass(frozen=True, slots=True)
class _Choice:
    values: tuple[str, ...]
    cum: tuple[float, ...]

    def pick(self, u: float) -> str:
        return self.values[min(bisect_right(self.cum, u), len(self.values) - 1)]


@dataclass(frozen=True, slots=True)
class _Tables:
    """Everything sample_attributes needs, precomputed once per Priors."""

    choices: dict[str, _Choice]
    intents: dict[str, tuple[Intent, ...]]
    home: str
    home_p: float
    others: tuple[str, ...]
    codes: tuple[tuple[str, str], ...]


def _intents_by_role(
    roles: dict[str, float], groups: dict[str, IntentGroup]
) -> dict[str, tuple[Intent, ...]]:
    """Each role's intent list; every role with a prior has exactly one, and no unknown role is named."""
    out: dict[str, tuple[Intent, ...]] = {}
    for group_name, group in groups.items():
        for role in group.roles:
            if role not in roles:
                known = ", ".join(roles)
                raise ValueError(
                    f"intents.{group_name}.roles: unknown role {role!r} (roles with a prior: {known})"
                )
            if role in out:
                raise ValueError(f"intents.{group_name}.roles: role {role!r} already has an intent list")
            out[role] = tuple(group.intents)
    missing = [r for r in roles if r not in out]
    if missing:
        raise ValueError(
            f"intents: role {missing[0]!r} has no intent list; add a group whose roles include it"
        )
    return out


def _choice(dist: dict[str, float]) -> _Choice:
    total, cum = 0.0, []
    for p in dist.values():
        total += p
        cum.append(total)
    return _Choice(tuple(dist), tuple(c / total for c in cum))


class Priors(BaseModel):
    """Attribute priors; validated on load and precomputed for fast sampling."""

    model_config = ConfigDict(extra="forbid")
    role: dict[str, float] = Field(description="Role probabilities (Table 4).")
    country: CountryPrior = Field(description="Region-country prior.")
    setting: dict[str, float] = Field(description="Urban/rural probabilities.")
    vagueness: dict[str, float] = Field(description="Intent vagueness probabilities.")
    completeness: dict[str, float] = Field(description="Information completeness probabilities.")
    style: dict[str, float] = Field(description="Language style probabilities.")
    icd10: Icd10Cut = Field(description="Which ICD-10 codes are diseases.")
    intents: dict[str, IntentGroup] = Field(description="Intent lists, each for one or more roles.")
    _tables: _Tables = PrivateAttr()

    @field_validator(*DISTRIBUTIONS)
    @classmethod
    def _distribution(cls, dist: dict[str, float]) -> dict[str, float]:
        if not dist:
            raise ValueError("needs at least one value")
        for value, p in dist.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"probability of {value!r} is {p}, outside [0, 1]")
        total = sum(dist.values())
        if abs(total - 1.0) > TOLERANCE:
            raise ValueError(f"probabilities sum to {total:g}, not 1")
        return dist

    @model_validator(mode="after")
    def _build(self) -> Priors:
        intents = _intents_by_role(self.role, self.intents)
        home, others = countries(self.country.home, self.country.others, self.country.home_probability)
        choices = {name: _choice(getattr(self, name)) for name in DISTRIBUTIONS}
        self._tables = _Tables(
            choices, intents, home, self.country.home_probability, others, codes(self.icd10.exclude_from, self.icd10.exclude_prefixes)
        )
        return self

    @property
    def home_country(self) -> str:
        return self._tables.home

    @property
    def other_countries(self) -> tuple[str, ...]:
        return self._tables.others

    @property
    def codes(self) -> tuple[tuple[str, str], ...]:
        """The (dotted code, title) pairs diseases are drawn from."""
        return self._tables.codes

    def intents_for(self, role: str) -> tuple[Intent, ...]:
        return self._tables.intents[role]


def _read(path: Path | str, text: str) -> dict[str, Any]:
    return parse_yaml_mapping(text, f"priors file {path}", _LOADER)


def merge_priors(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: distributions replace whole, other sections merge; null intent groups drop."""
    merged = deep_merge(base, {k: v for k, v in over.items() if k not in DISTRIBUTIONS})
    merged.update({k: over[k] for k in DISTRIBUTIONS if k in over})
    if isinstance(merged.get("intents"), dict):
        merged["intents"] = {k: v for k, v in merged["intents"].items() if v is not None}
    return merged


def load_priors(path: Path | None = None) -> Priors:
    """The packaged priors, with the YAML file at `path` merged over them; ConfigError (one line) if invalid."""
    data = _read("priors.yaml", PACKAGED.read_text(encoding="utf-8"))
    source = "the packaged priors.yaml"
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError):
            raise ConfigError(f"priors file {path} not found; check the --priors path") from None
        except UnicodeDecodeError:
            raise ConfigError(f"priors file {path} is not UTF-8 text; save it as UTF-8 YAML") from None
        data, source = merge_priors(data, _read(path, text)), f"priors file {path}"
    try:
        return Priors.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{source}: {f'error at {where!r}: ' if where else ''}{msg}") from None


@lru_cache(maxsize=1)
def default_priors() -> Priors:
    """The packaged priors, loaded once per process."""
    return load_priors()
