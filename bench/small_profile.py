"""What the embedded model's default run keeps: records kept and dropped by reason, calls stopped at their
token cap, wall time, and what `training.data` then writes, per seed.

  python bench/small_profile.py                       # 32 queries on seeds 7 and 11 (≈ 6 min on 2 cores)
  python bench/small_profile.py --n 8 --seeds 7       # smaller

It starts the embedded server once (or reuses the one on its port) and runs `python -m graph.run --n N
--seed S` with no endpoint, exactly as `make demo` does, so a baseline is measured by running this file
from a checkout of the older code against the same server. Stores are written in a temp dir and removed.
Prints a table per seed and one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph.serve.embedded import embedded_server  # noqa: E402


def run_once(n: int, seed: int, tmp: Path) -> dict[str, Any]:
    db = tmp / f"seed{seed}.sqlite"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "graph.run", "--n", str(n), "--seed", str(seed), "--db", str(db)],
                   cwd=ROOT, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    conn = sqlite3.connect(db)
    verdicts = conn.execute("SELECT kept, filter_reason, usage FROM results").fetchall()
    failures = Counter(f"failed:{s}:{c}" for s, c in conn.execute("SELECT stage, error_class FROM failures"))
    conn.close()
    reasons: Counter[str] = Counter(reason for kept, reason, _ in verdicts if not kept)
    calls = [c for *_, usage in verdicts for c in json.loads(usage)["calls"]]
    capped = Counter(c["node"] for c in calls if c.get("finish_reason") == "length")
    built = subprocess.run([sys.executable, "-m", "training.data", "--db", str(db), "--stage", "sr",
                            "--out", str(tmp / f"data{seed}")], cwd=ROOT, capture_output=True, text=True)
    written = None
    if built.returncode == 0:
        card = json.loads((tmp / f"data{seed}" / "data_card.json").read_text())
        written = card.get("counts", {}).get("written", card.get("written"))
    return {"seed": seed, "n": n, "kept": sum(1 for kept, *_ in verdicts if kept), "dropped": dict(reasons),
            "failed": dict(failures), "calls": len(calls), "calls_at_cap": dict(capped),
            "wall_s": round(wall, 1), "training_data_written": written}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 11])
    args = ap.parse_args()
    out = []
    with tempfile.TemporaryDirectory() as tmp, embedded_server(log=lambda m: print(m, file=sys.stderr)):
        for seed in args.seeds:
            result = run_once(args.n, seed, Path(tmp))
            out.append(result)
            print(f"seed {seed}: kept {result['kept']}/{args.n}, dropped {result['dropped']}, failed "
                  f"{result['failed']}, calls at cap {sum(result['calls_at_cap'].values())}/{result['calls']}, "
                  f"{result['wall_s']} s, training.data wrote {result['training_data_written']}", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
