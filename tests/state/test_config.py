"""RunConfig and its one resolver: defaults < profile < YAML < MUSER_* < CLI, and one-line ConfigErrors."""

from __future__ import annotations

from pathlib import Path

import pytest

from state.config import FACETS, RunConfig, Sampling
from state.resolve import ConfigError, resolve_config


def write(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# -- defaults ----------------------------------------------------------------------------------------


def test_paper_sampling_defaults() -> None:
    s = Sampling()
    assert (s.temperature, s.top_p, s.top_k, s.max_tokens) == (0.6, 0.95, 40, 40960)
    config = resolve_config(environ={})
    for node in ("query", "generate", "evaluate", "refine", "teacher"):
        got = config.sampling_for(node)
        assert (got.temperature, got.top_p, got.top_k, got.max_tokens) == (0.6, 0.95, 40, 40960)


def test_graph_defaults() -> None:
    config = resolve_config(environ={})
    assert config == RunConfig()
    assert config.refiner == "directref"
    assert config.facets == list(FACETS)
    assert config.min_answer_words == 50


# -- precedence --------------------------------------------------------------------------------------


def test_each_layer_overrides_the_previous_on_the_same_field(tmp_path: Path) -> None:
    yaml_path = write(
        tmp_path, "sampling:\n  temperature: 0.5\nrefiner: contgen\nendpoint:\n  model: from-yaml\n"
    )
    env = {"MUSER_SAMPLING__TEMPERATURE": "0.4", "MUSER_MODEL": "from-env"}
    cli = {"sampling.temperature": 0.3}

    assert resolve_config(environ={}).sampling.temperature == 0.6
    assert resolve_config(yaml_path, environ={}).sampling.temperature == 0.5
    assert resolve_config(yaml_path, environ=env).sampling.temperature == 0.4
    final = resolve_config(yaml_path, cli, environ=env)
    assert final.sampling.temperature == 0.3
    # Fields not touched by a later layer keep the earlier layer's value.
    assert final.refiner == "contgen"
    assert final.endpoint.model == "from-env"
    assert final.sampling.top_p == 0.95


def test_profile_sits_between_defaults_and_yaml(tmp_path: Path) -> None:
    profile = {"sampling": {"max_tokens": 384, "top_p": 0.9}}
    assert resolve_config(environ={}, profile=profile).sampling.max_tokens == 384
    yaml_path = write(tmp_path, "sampling:\n  max_tokens: 1000\n")
    got = resolve_config(yaml_path, environ={}, profile=profile).sampling
    assert (got.max_tokens, got.top_p) == (1000, 0.9)


def test_cli_none_means_flag_not_given(tmp_path: Path) -> None:
    yaml_path = write(tmp_path, "refiner: contgen\n")
    assert resolve_config(yaml_path, {"refiner": None}, environ={}).refiner == "contgen"


def test_env_and_cli_on_lists_and_nested_endpoint(tmp_path: Path) -> None:
    yaml_path = write(
        tmp_path, "facets: [decision]\nendpoint:\n  base_urls: [http://a:1/v1]\n  timeout_s: 5\n"
    )
    env = {"MUSER_FACETS": "safety, decision", "MUSER_BASE_URL": "http://b:2/v1,http://c:3/v1/"}
    config = resolve_config(yaml_path, environ=env)
    assert config.facets == ["decision", "safety"]  # canonical order
    assert config.endpoint.base_urls == ["http://b:2/v1", "http://c:3/v1"]
    assert config.endpoint.timeout_s == 5
    config = resolve_config(
        yaml_path, {"facets": ["communication"], "endpoint.base_urls": ["http://d:4/v1"]}, environ=env
    )
    assert config.facets == ["communication"]
    assert config.endpoint.base_urls == ["http://d:4/v1"]
    assert config.endpoint.timeout_s == 5


def test_env_values_are_typed_by_the_field() -> None:
    env = {
        "MUSER_API_KEY": "12345",  # a key that looks like a number stays text
        "MUSER_MODEL": "7",
        "MUSER_ENDPOINT__TIMEOUT_S": "5",
        "MUSER_ENDPOINT__MAX_RETRIES": "2",
        "MUSER_SAMPLING__TOP_K": "null",
        "MUSER_SAMPLING__EXTRA_BODY": '{"min_p": 0.1}',
    }
    config = resolve_config(environ=env)
    assert (config.endpoint.api_key, config.endpoint.model) == ("12345", "7")
    assert (config.endpoint.timeout_s, config.endpoint.max_retries) == (5.0, 2)
    assert config.sampling.top_k is None
    assert config.sampling.extra_body == {"min_p": 0.1}


def test_env_ignores_unrelated_muser_variables() -> None:
    assert resolve_config(environ={"MUSER_CACHE": "/tmp/x", "PATH": "/bin"}) == RunConfig()


# -- per-node sampling -------------------------------------------------------------------------------


def test_per_node_sampling_override(tmp_path: Path) -> None:
    yaml_path = write(
        tmp_path,
        "sampling:\n  temperature: 0.7\n"
        "node_sampling:\n  evaluate:\n    temperature: 0.1\n    max_tokens: 512\n"
        "  refine:\n    extra_body: {repetition_penalty: 1.1}\n",
    )
    config = resolve_config(yaml_path, environ={})
    ev = config.sampling_for("evaluate")
    assert (ev.temperature, ev.max_tokens, ev.top_p, ev.top_k) == (0.1, 512, 0.95, 40)
    gen = config.sampling_for("generate")
    assert (gen.temperature, gen.max_tokens) == (0.7, 40960)
    assert config.sampling_for("refine").extra_body == {"repetition_penalty": 1.1}
    assert gen.extra_body == {}


def test_per_node_override_from_env() -> None:
    config = resolve_config(environ={"MUSER_NODE_SAMPLING": '{"generate": {"top_k": 20}}'})
    assert config.sampling_for("generate").top_k == 20
    assert config.sampling_for("evaluate").top_k == 40


# -- errors ------------------------------------------------------------------------------------------


def one_line_error(**kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        resolve_config(**kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert "Traceback" not in message
    return message


def test_unknown_refiner() -> None:
    message = one_line_error(cli={"refiner": "foo"}, environ={})
    assert "'refiner'" in message and "foo" in message and "directref" in message


def test_unknown_facet() -> None:
    message = one_line_error(cli={"facets": ["decision", "bogus"]}, environ={})
    assert "facets" in message and "bogus" in message


def test_no_facet() -> None:
    assert "facets" in one_line_error(cli={"facets": []}, environ={})


def test_unknown_key_in_yaml(tmp_path: Path) -> None:
    message = one_line_error(config_path=write(tmp_path, "refiner: directref\nrefinr: contgen\n"), environ={})
    assert "'refinr'" in message and "unknown setting" in message


def test_unknown_nested_key_from_env() -> None:
    message = one_line_error(environ={"MUSER_SAMPLING__TEMPRATURE": "0.2"})
    assert "sampling.temprature" in message


def test_unknown_node_in_node_sampling(tmp_path: Path) -> None:
    message = one_line_error(
        config_path=write(tmp_path, "node_sampling:\n  judge:\n    temperature: 0.1\n"), environ={}
    )
    assert "node_sampling" in message and "judge" in message


def test_bad_value_names_the_field(tmp_path: Path) -> None:
    message = one_line_error(config_path=write(tmp_path, "sampling:\n  top_p: 1.5\n"), environ={})
    assert "sampling.top_p" in message and "1.5" in message


def test_bad_base_url() -> None:
    message = one_line_error(cli={"endpoint.base_urls": ["localhost:8000/v1"]}, environ={})
    assert "endpoint.base_urls" in message and "http://" in message


def test_invalid_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "refiner: contgen\nfacets: [decision,\n")
    message = one_line_error(config_path=path, environ={})
    assert str(path) in message and "not valid YAML" in message


@pytest.mark.parametrize(
    ("text", "kind"), [("- decision\n- safety\n", "list"), ("just words\n", "str"), ("42\n", "int")]
)
def test_non_mapping_yaml(tmp_path: Path, text: str, kind: str) -> None:
    path = write(tmp_path, text)
    message = one_line_error(config_path=path, environ={})
    assert str(path) in message and "mapping" in message and kind in message


def test_empty_yaml_is_all_defaults(tmp_path: Path) -> None:
    assert resolve_config(write(tmp_path, "# nothing\n"), environ={}) == RunConfig()


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    message = one_line_error(config_path=path, environ={})
    assert str(path) in message and "not found" in message


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("refiner: caf\xe9\n".encode("latin-1"))
    assert "UTF-8" in one_line_error(config_path=path, environ={})
