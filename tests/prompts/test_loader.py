"""Prompt files: every packaged prompt loads, facet prompts keep the paper's perspectives, strict slots."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from prompts.loader import Prompt, PromptError, available, load_prompt

GRAPH_PROMPTS = {
    "eval_decision": {"question", "response"},
    "eval_communication": {"question", "response"},
    "eval_safety": {"question", "response"},
    "refine_directref": {"question", "response", "reflection"},
    "contgen_prefill": {"reasoning"},
}

DECISION_PERSPECTIVES = [
    "intention",
    "demographics",
    "medical and family history",
    "symptoms and timeline",
    "medications and treatments",
    "examination and test results",
    "mental and functional status",
    "reproductive and sexual health",
    "environmental and occupational exposures",
    "social determinants of health",
    "cultural and religious considerations",
]
SAFETY_PERSPECTIVES = [
    "risk recognition",
    "risk mitigation",
    "guidelines and ethical boundaries",
    "special populations",
    "clarity of safety communication",
    "emergency and urgency recognition",
]


def normalised(text: str) -> str:
    return " ".join(text.lower().replace("&", "and").split())


def test_every_packaged_prompt_loads() -> None:
    names = available()
    assert set(GRAPH_PROMPTS) <= set(names)
    assert "chatml.jinja" in names
    for name in names:
        prompt = load_prompt(name)
        assert isinstance(prompt, Prompt) and prompt.text.strip(), name
        assert prompt.source.startswith("packaged")


@pytest.mark.parametrize(("name", "slots"), sorted(GRAPH_PROMPTS.items()))
def test_graph_prompts_declare_the_slots_the_nodes_fill(name: str, slots: set[str]) -> None:
    assert load_prompt(name).slots == slots


def test_decision_prompt_keeps_all_eleven_perspectives() -> None:
    text = normalised(load_prompt("eval_decision").text)
    missing = [p for p in DECISION_PERSPECTIVES if p not in text]
    assert missing == []
    # One numbered perspective per line, 1..11.
    numbers = re.findall(r"^(\d+)\. ", load_prompt("eval_decision").text, re.MULTILINE)
    assert numbers == [str(i) for i in range(1, 12)]


def test_safety_prompt_keeps_all_six_perspectives() -> None:
    text = normalised(load_prompt("eval_safety").text)
    assert [p for p in SAFETY_PERSPECTIVES if p not in text] == []
    numbers = re.findall(r"^(\d+)\. ", load_prompt("eval_safety").text, re.MULTILINE)
    assert numbers == [str(i) for i in range(1, 7)]


def test_communication_prompt_checks_role_awareness_and_depth() -> None:
    text = normalised(load_prompt("eval_communication").text)
    assert "role" in text
    assert "depth" in text
    assert "patient" in text and "clinician" in text


@pytest.mark.parametrize("name", ["eval_decision", "eval_communication", "eval_safety"])
def test_facet_prompts_state_the_output_contract(name: str) -> None:
    text = load_prompt(name).text
    assert '"We should' in text
    assert re.search(r'exactly:? "?N/A', text)


def test_directref_asks_for_the_bare_answer() -> None:
    text = normalised(load_prompt("refine_directref").text)
    assert "only the revised answer" in text


def test_render_fills_every_slot() -> None:
    out = load_prompt("refine_directref").render(question="Q?", response="R0.", reflection="We should x.")
    assert "Q?" in out and "R0." in out and "We should x." in out
    assert "<<" not in out


def test_render_does_not_reexpand_slot_markers_inside_values() -> None:
    out = load_prompt("contgen_prefill").render(reasoning="see <<question>> literally")
    assert out == "<think>\nsee <<question>> literally\n</think>\n\n"


def test_missing_slot_value_is_an_error() -> None:
    with pytest.raises(PromptError, match=r"<<response>>") as info:
        load_prompt("eval_safety").render(question="q")
    assert "\n" not in str(info.value)


def test_unknown_slot_is_an_error() -> None:
    with pytest.raises(PromptError, match=r"no <<answer>> slot") as info:
        load_prompt("eval_safety").render(question="q", response="r", answer="a")
    assert "\n" not in str(info.value)


def test_unknown_prompt_name() -> None:
    with pytest.raises(PromptError, match="no prompt named 'eval_empathy'"):
        load_prompt("eval_empathy")


def test_prompts_dir_replaces_only_the_named_file(tmp_path: Path) -> None:
    (tmp_path / "eval_safety.txt").write_text("Mine: <<question>> / <<response>>\n", encoding="utf-8")
    mine = load_prompt("eval_safety", tmp_path)
    assert mine.text == "Mine: <<question>> / <<response>>\n"
    assert mine.source == str(tmp_path / "eval_safety.txt")
    assert mine.render(question="q", response="r") == "Mine: q / r\n"
    # Every other prompt still comes from the package.
    other = load_prompt("eval_decision", tmp_path)
    assert other.source.startswith("packaged") and other.text == load_prompt("eval_decision").text


def test_prompts_dir_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="not a directory"):
        load_prompt("eval_safety", tmp_path / "missing")


def test_prompts_dir_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "eval_safety.txt").write_bytes(b"caf\xe9 <<question>>")
    with pytest.raises(PromptError, match="UTF-8"):
        load_prompt("eval_safety", tmp_path)


def test_render_leaves_json_braces_alone(tmp_path: Path) -> None:
    template = 'Answer as JSON: {"criteria_met": true, "notes": {{x}}, "q": "<<question>>"} {0} {question}\n'
    (tmp_path / "json_prompt.txt").write_text(template, encoding="utf-8")
    prompt = load_prompt("json_prompt", tmp_path)
    assert prompt.slots == {"question"}
    assert prompt.render(question="fever {39.5}") == (
        'Answer as JSON: {"criteria_met": true, "notes": {{x}}, "q": "fever {39.5}"} {0} {question}\n'
    )


def test_prompts_dir_check_catches_typos_and_slot_changes(tmp_path: Path) -> None:
    from prompts.loader import check_prompts_dir

    (tmp_path / "eval_safety.txt").write_text("Safety of <<response>> to <<question>>: list gaps.\n")
    (tmp_path / "mytemplate.jinja").write_text("{{ messages }}")
    check_prompts_dir(tmp_path, frozenset({"mytemplate"}))  # same slots, and a template the config names
    (tmp_path / "eval_safty.txt").write_text("<<question>> <<response>>\n")
    with pytest.raises(PromptError, match=r"eval_safty\.txt replaces no packaged prompt"):
        check_prompts_dir(tmp_path, frozenset({"mytemplate"}))
    (tmp_path / "eval_safty.txt").unlink()
    (tmp_path / "refine_directref.txt").write_text("Improve <<response>> for <<question>>.\n")
    with pytest.raises(PromptError, match="must have exactly <<question>>, <<reflection>>, <<response>>"):
        check_prompts_dir(tmp_path, frozenset({"mytemplate"}))
    with pytest.raises(PromptError, match="is not a directory"):
        check_prompts_dir(tmp_path / "missing")


@pytest.mark.parametrize("name", ["eval_decision", "eval_communication", "eval_safety", "refine_directref"])
def test_small_set_keeps_the_slots_and_carries_no_worked_example(name: str) -> None:
    small, paper = load_prompt(name, prompt_set="small"), load_prompt(name)
    assert small.source == f"packaged small/{name}.txt" and small.slots == paper.slots
    assert "we should" not in small.text.lower()  # nothing a small model could copy into a rationale
    assert len(small.text.split()) < len(paper.text.split()) / 3


def test_small_set_falls_back_to_the_paper_and_yields_to_prompts_dir(tmp_path: Path) -> None:
    assert load_prompt("query_generation", prompt_set="small") == load_prompt("query_generation")
    (tmp_path / "eval_safety.txt").write_text("Mine: <<question>> / <<response>>\n", encoding="utf-8")
    assert load_prompt("eval_safety", tmp_path, "small").source == str(tmp_path / "eval_safety.txt")
    with pytest.raises(PromptError, match="unknown prompt set 'tiny'"):
        load_prompt("eval_safety", prompt_set="tiny")


def test_small_evaluators_keep_their_facets_perspective() -> None:
    text = {f: normalised(load_prompt(f"eval_{f}", prompt_set="small").text)
            for f in ("decision", "communication", "safety")}
    assert "missing" in text["decision"] or "left out" in text["decision"]
    assert "patient or a professional" in text["communication"]
    assert "risk" in text["safety"] and "urgent" in text["safety"]
