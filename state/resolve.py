"""The one config resolver: defaults < YAML file < environment (MUSER_*) < CLI flags."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from state.config import RunConfig
from state.profiles import PROFILES, SETTINGS

ENV_PREFIX = "MUSER_"
# Short environment names for the settings people change most; any field is also reachable as
# MUSER_<FIELD> or MUSER_<SECTION>__<FIELD> (values parsed as JSON when they look like JSON).
ENV_ALIASES = {
    "MUSER_BASE_URL": "endpoint.base_urls",
    "MUSER_MODEL": "endpoint.model",
    "MUSER_API_KEY": "endpoint.api_key",
}
LIST_FIELDS = {"endpoint.base_urls", "facets"}


class ConfigError(ValueError):
    """A configuration problem; str() is one line naming the field and the fix."""


def deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge `over` into a copy of `base` (mappings merge, everything else replaces)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """Set tree['a']['b'] for 'a.b', creating the intermediate mappings."""
    *parents, leaf = dotted.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML config file into a mapping, with one-line errors."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found; check the --config path") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a directory; pass the YAML file inside it to --config") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read ({exc.strerror}); check the --config path") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text; save it as UTF-8 YAML") from None
    return parse_yaml_mapping(text, f"config file {path}")


def parse_yaml_mapping(text: str, what: str, loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> dict[str, Any]:
    """YAML text that must hold a mapping (empty → {}); errors name `what` and the line."""
    try:
        data = yaml.load(text, Loader=loader)  # a SafeLoader (or its C twin): no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{what} is not valid YAML{where}; fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} must be a YAML mapping of settings, not {type(data).__name__}")
    return data


def _env_value(dotted: str, raw: str) -> Any:
    if dotted in LIST_FIELDS and not raw.lstrip().startswith("["):
        return [part.strip() for part in raw.split(",") if part.strip()]
    # Numbers and booleans stay text: pydantic parses them for numeric fields, and a string field
    # (an API key or model name that looks like a number) keeps its value.
    if raw[:1] in "[{" or raw == "null":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """MUSER_* variables as a nested override mapping (MUSER_ENDPOINT__TIMEOUT_S → endpoint.timeout_s)."""
    tree: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "MUSER_CACHE":
            continue
        dotted = ENV_ALIASES.get(name) or name[len(ENV_PREFIX):].lower().replace("__", ".")
        if dotted.split(".")[0] not in RunConfig.model_fields:
            continue
        set_dotted(tree, dotted, _env_value(dotted, raw))
    return tree


def format_validation_error(exc: ValidationError, source: str = "config") -> str:
    """First pydantic error as one line: where, what, and what to do."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    got = err.get("input")
    secret = "api_key" in err["loc"]  # never echo a key into a terminal or log
    got_text = f" (got {got!r})" if not isinstance(got, dict | list) and got is not None and not secret else ""
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown setting"
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{source} error at '{where}': {msg}{got_text}{more}; fix it in your YAML, MUSER_* variables or flags"


def named_profile(name: Any) -> dict[str, Any]:
    """The settings of a profile named in YAML, env or flags ({} when none is named)."""
    if name is None:
        return {}
    if name not in SETTINGS:
        raise ConfigError(f"config error at 'profile': unknown profile {name!r}; use one of {', '.join(PROFILES)}")
    return SETTINGS[name]


def resolve_config(
    config_path: Path | None = None,
    cli: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    profile: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Merge defaults < profile (a stored run's or the embedded one) < the profile named by the user < YAML <
    environment < CLI (dotted keys) and validate."""
    user: dict[str, Any] = load_yaml(config_path) if config_path is not None else {}
    user = deep_merge(user, env_overrides(os.environ if environ is None else environ))
    cli_tree: dict[str, Any] = {}
    for dotted, value in (cli or {}).items():
        if value is not None:
            set_dotted(cli_tree, dotted, value)
    user = deep_merge(user, cli_tree)
    tree = deep_merge(dict(profile or {}), named_profile(user.get("profile")))
    tree = deep_merge(tree, user)
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None
