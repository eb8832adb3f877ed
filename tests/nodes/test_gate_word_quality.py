"""The `word_quality` rule on hand-written answers: clean ones pass, glued and invented ones are dropped."""

from __future__ import annotations

import pytest

from nodes.filter import judge, run_settings
from nodes.gate.echo import template_index
from nodes.gate.rules import REASONS, Settings
from nodes.gate.vocabulary import guess
from nodes.gate.word_quality import WordLimits, reading, word_quality
from state.config import RunConfig

CLEAN = (
    "A cough that has lasted three weeks deserves a visit to your doctor, especially with a fever or night sweats. "
    "Until then, drink plenty of fluids, rest, and use honey in warm water to soothe the throat. Paracetamol or "
    "ibuprofen can ease aches if you have no kidney problems or stomach ulcers. Go to an emergency department at "
    "once if you cough up blood, feel short of breath at rest, or have chest pain. Keep a short diary of your "
    "temperature and symptoms so the doctor can see how things have changed since the cough began."
)
# The small model's failure, in its own shape: sentences with their spaces gone.
GLUED = CLEAN.replace(
    "Until then, drink plenty of fluids, rest, and use honey in warm water to soothe the throat.",
    "Untilthendrinkplentyoffluidsrestandusehoneyinwarmwatertosoothethethroat.",
)
INVENTED = (
    "A cough that has bralunted three weeks zoverish a visit to your doctor, ecktrally with a fever or night "
    "swomps. Until then, drink plenty of flooberts, rest, and use honey in warm water to snarvelate the throat. "
    "Paracetamol or ibuprofen can ease aches if you have no trimbal problems or stomach quorbles. Go to an "
    "emergency yimmerstat at once if you glorp up blood, feel short of breath at rest, or have chest panth. Keep "
    "a short diary of your temperature and symptoms so the doctor can see how things have changed since the cough "
    "began, alrightayeyeetahxd and brimsworthy."
)
SPANISH = (
    "Una tos que dura tres semanas merece una visita al médico, sobre todo si hay fiebre o sudores nocturnos. "
    "Mientras tanto, bebe muchos líquidos, descansa y toma miel con agua tibia para calmar la garganta. Acude a "
    "urgencias de inmediato si toses sangre, te falta el aire en reposo o tienes dolor en el pecho."
)
SPANISH_INVENTED = (  # one word in three made up
    "Una tos brunela dura tres plimosas merece una vorlita al médico, trosque todo si hay gremba o sudores grombales. "
    "Mientras tanto, bebe muchos plorquidos, descansa y toma miel zun agua trubia para calmar la gartolla. Acude a "
    "urgencias de frimadio si toses plunga, te falta el aire en grospo o tienes dolor en el vuncho."
)


def test_clean_english_passes_and_reads_as_english() -> None:
    assert word_quality(("", CLEAN), WordLimits()) is None
    assert reading(CLEAN, WordLimits()).lang == "en"


@pytest.mark.parametrize("text", [GLUED, INVENTED])
def test_glued_and_invented_words_are_dropped(text: str) -> None:
    assert word_quality((text,), WordLimits()) == "word_quality"


def test_a_glued_sentence_is_caught_by_its_length_alone() -> None:
    """One glued sentence is a small share of the letters; its single 70-letter word names it."""
    assert reading(GLUED, WordLimits()).unknown_share < 0.2
    assert word_quality((GLUED,), WordLimits(max_unknown_letters=1.0)) == "word_quality"
    assert word_quality((GLUED,), WordLimits(max_word_letters=0)) is None


def test_other_languages_are_judged_by_their_own_list() -> None:
    assert guess(["una", "tos", "que", "dura", "tres", "semanas"]) == "es"
    assert word_quality((SPANISH,), WordLimits()) is None
    assert reading(SPANISH, WordLimits()).lang == "es"
    assert word_quality((SPANISH_INVENTED,), WordLimits()) == "word_quality"


def test_numbers_codes_and_unspaced_scripts_are_not_judged() -> None:
    numbers = CLEAN + " Take 500 mg every 6-8 h; HbA1c 7.2%, eGFR 60, 2024-03-01, ICD-10 J45.909, BP 130/85."
    assert word_quality((numbers,), WordLimits()) is None
    chinese = "如果咳嗽持续三周以上，尤其伴有发热或夜间出汗，请及时就医。在此之前，多喝水，注意休息。" * 3
    assert word_quality((chinese,), WordLimits()) is None
    assert word_quality(("Nope, zorbly.",), WordLimits()) is None  # too few letters to judge


def test_off_and_thresholds_from_the_run_config() -> None:
    assert word_quality((INVENTED,), WordLimits(max_unknown_letters=1.0, max_word_letters=0)) is None
    config = RunConfig(max_unknown_letters=0.5, max_word_letters=80)
    assert run_settings(config).words == WordLimits(0.5, 80)
    loose = Settings(echo=template_index(), words=WordLimits(0.5, 80))
    assert judge(GLUED, [], query="q?", settings=loose).kept
    assert judge(GLUED, [], query="q?").reason == "word_quality"
    assert "word_quality" in REASONS


def test_the_reasoning_is_judged_too() -> None:
    verdict = judge(CLEAN, [], query="A cough for three weeks: what now?", reasoning="We should " + INVENTED)
    assert verdict.reason == "word_quality"


@pytest.mark.parametrize("bad", [{"max_unknown_letters": 1.5}, {"max_unknown_letters": -0.1}, {"max_word_letters": -1}])
def test_config_refuses_absurd_limits(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RunConfig(**bad)


def test_the_builder_reads_the_limits_back_from_the_stored_config() -> None:
    from training.dataset.run_settings import RunSettings, of_config

    stored = of_config(RunConfig(max_unknown_letters=0.35, max_word_letters=0).model_dump(mode="json"))
    assert stored.gate({}).words == WordLimits(0.35, 0)
    assert stored.card()["max_unknown_letters"] == 0.35 and stored.card()["max_word_letters"] == 0
    assert of_config({"min_answer_words": 50}) == RunSettings()  # a run stored before the rule: the defaults
    assert of_config({"max_unknown_letters": "lots", "max_word_letters": None}) == RunSettings()
