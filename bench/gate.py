"""Wall time and peak RSS of `training.data` (stage sr) on synthetic stores, with the data-quality gate on and off.

  python bench/gate.py                      # 100,000 and 1,000,000 rows (≈ 25 min on 2 cores)
  python bench/gate.py --sizes 100000       # one size; stores are written in a temp dir and removed
  python bench/gate.py --index-memory 1000000   # only the parts that grow: band index, exact-dup set

Rows are realistic for the gate: queries built from attribute-like fields (so some near-duplicates occur,
as in a real 1M run), answers of ~100 words drawn from a pool of distinct sentences, 1% looping answers,
five calls in usage with finish_reason. The answers' words are common English words, so the `word_quality`
rule reads every answer as it would a real one, and keeps it. "off" skips the per-record rules, near-dedup
and decontamination (the paper's filters and exact de-duplication still run), in one process; "on" is the
default gate (worker processes judge rows past the first 4,096, one per core); "on-1proc" is the gate with
no worker. Each build
runs in its own child process; its CPU time (workers included) and largest single-process RSS come from
wait4, and `peak_tree_rss_mb` samples the RSS of the build and its workers summed every 0.2 s. Prints one
JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CASES = ("off", "on", "on-1proc")
sys.path.insert(0, str(ROOT))

from graph.store.db import Store  # noqa: E402

SYMPTOMS = ["cough", "fever", "rash", "headache", "nausea", "dizziness", "fatigue", "swelling", "itching", "wheezing", "insomnia", "heartburn", "constipation", "diarrhoea", "palpitations", "numbness", "tingling", "chills", "sweating", "bruising", "hoarseness", "earache", "toothache", "backache", "stiffness", "cramps", "bloating", "vomiting", "sneezing", "thirst"]
PEOPLE = ["my son", "my daughter", "my mother", "my father", "my wife", "my husband", "my grandmother", "my friend"]
QUESTIONS = ["What should I do?", "Is this serious?", "Do I need to see a doctor?", "Which medicine can help?",
             "Can I treat this at home?", "How long will it last?", "Should I go to the emergency room?",
             "What tests might be needed?", "Is it contagious?", "Could it be related to my medication?"]
VERBS = ["check", "rest", "drink", "avoid", "monitor", "note", "call", "visit", "take", "reduce", "raise", "keep", "apply", "limit", "ask"]
OBJECTS = ["fluids", "salt", "caffeine", "alcohol", "sleep", "temperature", "dose", "label", "pharmacist", "clinic", "symptoms", "diary", "weight", "meals", "exercise", "screens", "smoke", "pillows", "ice", "heat"]


def english_words(n: int) -> list[str]:
    """`n` English words of four letters or more from the packaged prompts: answers of real words, as real
    answers are (2% of a HealthBench answer's distinct words are not in the English word list)."""
    found: set[str] = set()
    for template in sorted((ROOT / "prompts").glob("*.txt")):
        found.update(re.findall(r"\b[a-z]{4,}\b", template.read_text(encoding="utf-8")))
    return sorted(found)[:n]


def sentences(rng: random.Random, n: int = 400) -> list[str]:
    """Sentences of 10-16 words drawn from a few hundred words (real answers rarely repeat a 5-word run)."""
    vocab = [*SYMPTOMS, *VERBS, *OBJECTS, *english_words(300)]
    return [" ".join(rng.choice(vocab) for _ in range(rng.randint(10, 16))).capitalize() + "." for _ in range(n)]


def rows(n: int, seed: int = 0) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    rng = random.Random(seed)
    pool = sentences(rng)
    calls = [{"node": node, "prompt_tokens": 500, "completion_tokens": 300, "latency_ms": 900.0, "endpoint": "",
              "attempts": 1, "finish_reason": "stop"}
             for node in ("generate", "eval_decision", "eval_communication", "eval_safety", "refine_directref")]
    usage = json.dumps({"prompt_tokens": 2500, "completion_tokens": 1500, "calls": calls})
    for i in range(n):
        who, a, b = rng.choice(PEOPLE), rng.choice(SYMPTOMS), rng.choice(SYMPTOMS)
        query = (f"Hi, {who} is {rng.randint(1, 95)} years old and has had {a} and {b} for {rng.randint(1, 30)} days, "
                 f"worse in the {rng.choice(['morning', 'evening', 'night'])} after {rng.choice(OBJECTS)}. "
                 f"{rng.choice(QUESTIONS)}")
        answer = " ".join(rng.sample(pool, 8))
        if i % 100 == 0:
            answer += " Please see a doctor soon." * 12
        yield (i, "{}", query), (i, "t0", answer, "{}", "t0 We should ask about age.", answer, 1, 1, None, usage,
                                 1000.0, "{}")


def make_store(path: Path, n: int) -> float:
    t0 = time.perf_counter()
    store = Store.open(path, create=True)
    store.write_run({"refiner": "directref"}, 0, n, None)
    batch: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = []
    for pair in rows(n):
        batch.append(pair)
        if len(batch) == 20_000 or pair[0][0] == n - 1:
            for table, at in (("queries", 0), ("results", 1)):
                for row in batch:
                    store.add(table, row[at])
            store.flush()
            batch.clear()
    store.close()
    return time.perf_counter() - t0


def child(db: str, gate: str, out: str) -> None:
    from training.data import build_dataset
    from training.dataset.gate import GateOptions

    options = {
        "off": GateOptions(dedup=False, decontaminate=False, rules=False, workers=0),
        "on": GateOptions(),
        "on-1proc": GateOptions(workers=0),
    }[gate]
    card = build_dataset(db, "sr", out, gate=options)
    print(json.dumps({"workers": options.workers, "written": card["counts"]["written"], "dropped": card["dropped"]}))


def measure(db: Path, gate: str, out: Path) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(db), gate, str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    tree_peak = 0.0
    while True:  # the build's pipes stay small (one JSON line, maybe a traceback), so polling cannot block it
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        tree_peak = max(tree_peak, tree_rss_mb(proc.pid))
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    stdout, stderr = proc.stdout.read().decode() if proc.stdout else "", proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"build failed: {stderr[-2000:]}")
    return {"gate": gate, "wall_s": round(wall, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "peak_tree_rss_mb": round(tree_peak, 1),
            **json.loads(stdout)}


def tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and its descendants now, summed (pages shared after a fork count once per
    process, so this over-states the total; wait4's peak is only the largest single process). 0 off Linux."""
    try:
        parents = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        tree, total = {root}, 0.0
        for pid in sorted(parents):  # children have larger pids than their parent here (no pid wrap in a run)
            if parents[pid] in tree:
                tree.add(pid)
        for pid in tree:
            try:
                status = (Path("/proc") / str(pid) / "status").read_text()
            except OSError:
                continue
            total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        return total / 1024
    except OSError:
        return 0.0


def index_memory(n: int) -> dict[str, float]:
    """Peak RSS of what grows with the store, without a build: n keys in every band map, n exact-dup digests."""
    import hashlib
    import resource

    from training.dataset.neardup import NearDuplicates

    def rss() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    near, rng = NearDuplicates(), random.Random(0)
    base = rss()
    for i in range(n):
        for band in near.bands:
            band[rng.getrandbits(64)] = i
    bands = rss()
    seen = {hashlib.sha256(str(i).encode()).digest()[:16] for i in range(n)}
    return {"rows": n, "bands": near.b, "interpreter_mb": round(base), "band_index_mb": round(bands - base),
            "exact_dedup_mb": round(rss() - bands), "signatures_mb": round(n * near.num_perm / 2**20),
            "peak_mb": round(rss()), "kept": len(seen)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="Comma-separated row counts.")
    parser.add_argument("--cases", default=",".join(CASES),
                        help="off: no gate; on: the default gate (worker processes past the first rows); "
                        "on-1proc: the gate in the builder's process only")
    parser.add_argument("--index-memory", type=int, metavar="N", help="only measure the growing parts at N rows")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not set(args.cases.split(",")) <= set(CASES):
        parser.error(f"--cases takes a comma-separated list of {', '.join(CASES)}")
    if args.child:
        return child(*args.child)
    if args.index_memory:
        return print(json.dumps(index_memory(args.index_memory)))
    cases: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            db = Path(tmp) / f"gate-{n}.sqlite"
            made = make_store(db, n)
            for gate in args.cases.split(","):
                case = {"rows": n, "store_mb": round(db.stat().st_size / 2**20, 1), "generate_s": round(made, 1),
                        **measure(db, gate, Path(tmp) / f"out-{n}-{gate}")}
                cases.append(case)
                print(json.dumps(case), file=sys.stderr, flush=True)
            db.unlink()
    print(json.dumps({"load_average": os.getloadavg()[0], "cases": cases}))


if __name__ == "__main__":
    main()
