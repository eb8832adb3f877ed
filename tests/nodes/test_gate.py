"""The per-record gate rules, each with hand-made positives and the near-misses it must let through."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from nodes.filter import judge
from nodes.gate.echo import EchoIndex, template_index
from nodes.gate.repetition import (
    RepetitionLimits,
    repeat_cover,
    repeated_ngram_chars,
    repeats_a_run,
    repetition,
    top_ngram_chars,
    top_ngrams_fail,
)
from nodes.gate.rules import AFTER_CALLS, CALLS, Record, Settings, first_reason
from nodes.gate.text import WORD, grams, words
from nodes.gate.truncation import cut_off, truncated
from prompts.loader import load_prompt

BULLETED = """Here is how to manage a mild ankle sprain at home.

**What to do now**
- Rest the ankle and avoid putting weight on it for the first day or two.
- Apply ice wrapped in a cloth for 15 to 20 minutes every two to three hours.
- Use an elastic compression bandage, snug but not tight enough to cause numbness.
- Keep the foot raised above the level of your heart when sitting or lying down.

**Medicines**
- Dose: paracetamol 1 g up to four times a day.
- Dose: ibuprofen 400 mg up to three times a day with food.
- Avoid ibuprofen if you have stomach ulcers, kidney disease or take blood thinners.

**When to see a doctor**
- You cannot bear weight or walk four steps.
- There is severe swelling, numbness, or the foot looks deformed.
- Pain does not improve after five to seven days.
"""
ADVICE = ("A cough that lasts three weeks deserves a check-up. Drink warm fluids, rest, and avoid smoke. "
          "See a doctor soon if you cough blood, lose weight or have night sweats, because these need tests. ")
CLEAN_CALLS = [{"node": "generate", "finish_reason": "stop"}, {"node": "refine_directref", "finish_reason": "stop"}]

Q = "My child has had a fever since yesterday, what should I do?"


def gate_reason(query: str, reasoning: str, answer: str, calls: list[dict[str, str]], echo: EchoIndex) -> str | None:
    """The gate's own rules (truncated, repetition, prompt_echo), as the filter node applies them."""
    return first_reason(Record(query, reasoning, answer, calls), Settings(echo=echo), CALLS + AFTER_CALLS)


# -- repetition ----------------------------------------------------------------------------------------


def test_a_bulleted_medical_answer_is_not_a_loop() -> None:
    assert repetition(BULLETED) is None
    assert repetition(ADVICE) is None


def test_one_sentence_repeated_eight_times_is_a_loop() -> None:
    assert repetition(ADVICE + "Please see a doctor if the pain continues for more than a week. " * 8) == "repetition"


def test_a_two_line_block_repeated_is_a_loop() -> None:
    block = "## Output format\nYou're a patient who wants clear advice about the next steps.\n"
    assert repetition(ADVICE + "\n" + block * 7) == "repetition"


def test_a_sentence_said_twice_is_not_a_loop() -> None:
    assert repetition(ADVICE + "\n\n" + BULLETED + "\nSee a doctor soon if you cough blood.") is None


def test_the_ngram_measures_match_hand_counts() -> None:
    tokens = ["a", "b", "c", "a", "b", "c", "a", "b", "c"]
    assert top_ngram_chars(tokens, 2) == len("a b") * 3
    assert top_ngram_chars(["a", "b", "c", "d"], 2) == 0  # nothing repeats
    # 5-grams "abcab" seen, "bcabc" new, "cabca" new, then "abcab" again at index 3 -> 5 chars, skip to 8
    assert repeated_ngram_chars(tokens, 5) == 5


# -- prompt echo -------------------------------------------------------------------------------------


def test_the_shortcuts_decide_as_the_full_measures() -> None:
    """top_ngrams_fail and repeat_cover skip work on bounds; on 3,000 random texts (small vocabularies, so
    n-grams repeat at every rate) they must decide exactly as the measures computed in full."""
    rng, limits = random.Random(7), RepetitionLimits()
    vocab = [f"w{i}" * rng.randint(1, 4) for i in range(40)]
    for _ in range(3000):
        tokens = [rng.choice(vocab[: rng.randint(3, 40)]) for _ in range(rng.randint(0, 120))]
        text = " ".join(tokens)
        size = max(len(text), 1)
        full = any(top_ngram_chars(tokens, n) / size > frac for n, frac in limits.top_ngrams)
        assert top_ngrams_fail(tokens, size, limits.top_ngrams) == full
        bound = repeat_cover(tokens, limits.dup_ngrams)
        assert all(repeated_ngram_chars(tokens, n) <= bound for n, _ in limits.dup_ngrams)
        assert words(text) == tokens
        looping = full or any(repeated_ngram_chars(tokens, n) / size > frac for n, frac in limits.dup_ngrams)
        assert repetition(text) == ("repetition" if looping else None), text  # one line: the n-gram checks decide


def test_a_repeated_five_gram_is_a_run_of_four_repeated_bigrams_and_a_four_gram_is_not() -> None:
    def run(text: str) -> bool:
        bigrams = list(grams(text.split(), 2))
        return repeats_a_run(bigrams, Counter(bigrams), 4)

    assert run("a b c d e x a b c d e y")  # the 5-gram "a b c d e" twice, different words around it
    assert not run("a b c d x a b c d y")  # only a 4-gram repeats
    assert not run("a b c d e f g h i j")


def test_words_are_the_regexs_words_on_any_text() -> None:
    """`words` skips the regex for most of a text; on random text of letters, digits, apostrophes, underscores,
    Unicode letters, digits, punctuation and spaces it must give exactly the regex's words."""
    rng = random.Random(3)
    pool = [*"abcXYZ019 _'’-—.,;:!?\n\t\u00a0\u2003éßİﬁ٣²½•°()[]*#`\"/\\", "don't", "it''s", "'quoted'", "l’eau"]
    for _ in range(20_000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 30)))
        assert words.__wrapped__(text) == WORD.findall(text.casefold()), repr(text)


def test_echoing_the_refine_prompt_is_caught_in_the_answer_or_the_reasoning() -> None:
    index = template_index()
    echo = ("You are an experienced clinician. Below are a user's question, the answer you gave earlier, and "
            "the notes. " + ADVICE)
    assert gate_reason("q", "", echo, CLEAN_CALLS, index) == "prompt_echo"
    step = "Step 1. Read the question, your earlier answer and your reflection carefully. "
    assert gate_reason("q", step, ADVICE, CLEAN_CALLS, index) == "prompt_echo"


def test_quoting_the_users_question_is_not_an_echo() -> None:
    index = template_index()
    query = "My father is 80 and has had a dry cough for three weeks with some night sweats, what should we do?"
    answer = f'You wrote: "{query}" ' + ADVICE
    assert gate_reason(query, "", answer, CLEAN_CALLS, index) is None


def test_slot_values_and_short_template_phrases_are_not_echoes() -> None:
    index = EchoIndex.from_texts(["Intro words one two three four five six seven eight nine. <<question>> tail"])
    assert index.echoes("intro words one two three four five six seven eight nine ten")
    assert index.echoes("words one two three four five six seven eight nine")  # 10 template words
    assert not index.echoes("one two three four five six seven eight nine")  # 9 only
    assert not index.echoes("nine <<question>> tail")  # never spans a slot
    assert not any("question" in span for span in index.spans)


def test_a_prompts_dir_override_replaces_the_packaged_template(tmp_path: Path) -> None:
    text = load_prompt("refine_directref").text.replace("You are an experienced clinician.", "Act as a careful nurse.")
    (tmp_path / "refine_directref.txt").write_text(text, encoding="utf-8")
    own = template_index(tmp_path)
    assert own.echoes("Act as a careful nurse. Below are a user's question, the answer you gave earlier")
    assert not own.echoes("You are an experienced clinician. Below are a user's question, the")


def test_a_small_profile_run_is_echo_checked_against_the_small_templates() -> None:
    small = template_index(prompt_set="small")
    copied = "As a doctor, name what the answer still needs to decide well, then act."
    assert small.echoes(copied) and not template_index().echoes(copied)
    assert gate_reason("q", "", copied + " " + ADVICE, CLEAN_CALLS, small) == "prompt_echo"


# -- truncation --------------------------------------------------------------------------------------


def test_a_length_finish_in_any_call_truncates() -> None:
    assert truncated(CLEAN_CALLS) is None
    assert truncated([*CLEAN_CALLS, {"node": "eval_safety", "finish_reason": "length"}]) == "truncated"
    assert truncated([{"node": "generate", "finish_reason": None}]) is None  # server said nothing


@pytest.mark.parametrize(
    ("call", "cut"),
    [
        ({"node": "refine_directref", "completion_tokens": 384}, True),  # old row: used the whole budget
        ({"node": "refine_directref", "completion_tokens": 383}, False),
        ({"node": "teacher", "completion_tokens": 9999}, False),  # no limit known for the node
        ({"node": "refine_directref", "completion_tokens": 384, "finish_reason": "stop"}, False),  # stored wins
    ],
)
def test_old_rows_without_finish_reason_fall_back_to_the_token_limit(call: dict, cut: bool) -> None:
    assert cut_off(call, {"refine_directref": 384}) is cut


# -- the filter node applies the gate ----------------------------------------------------------------


def test_judge_names_the_gate_reason_after_the_papers_rules() -> None:
    loop = ADVICE + "Please see a doctor if the pain continues for more than a week. " * 8
    assert judge(loop, [], query=Q).reason == "repetition"
    assert judge(ADVICE * 2, [], calls=[{"finish_reason": "length"}], query=Q).reason == "truncated"
    assert judge("too short " * 3, [], calls=[{"finish_reason": "length"}], query=Q).reason == "too_short"
    assert judge(BULLETED, [], query="ankle", calls=CLEAN_CALLS).kept


def test_the_gate_wing_imports_only_prompts_and_itself() -> None:
    import ast

    import nodes.gate

    folder = Path(nodes.gate.__file__).parent
    project = ("nodes", "prompts", "state", "graph", "training", "eval")
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name.split(".")[0] in project:
                    assert name.startswith(("nodes.gate", "prompts")), f"{path.name} imports {name}"


def test_too_short_counts_whitespace_words_like_count_words() -> None:
    from nodes.gate.rules import too_short
    from nodes.gate.text import count_words

    index, rng = template_index(), random.Random(5)
    for _ in range(5_000):
        text = "".join(rng.choice(["a", " ", "\n", "\t", "bc", "  ", "é"]) for _ in range(rng.randint(0, 40)))
        least = rng.randint(0, 12)
        dropped = too_short(Record(Q, "", text), Settings(index, least)) is not None
        assert dropped == (count_words(text) < least), (text, least)
