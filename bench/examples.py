"""Time and peak RSS of report.html's examples (the seeded sample and the dropped-items gallery) on
synthetic run stores of growing size, each measured in its own child process.

  python bench/examples.py                          # 10,000 and 1,000,000 results (a 1M store is ≈ 10 GB)
  python bench/examples.py --sizes 100000 --examples 50

The stores come from bench/report.py's generator (real schema, realistic row sizes, 10% dropped).
Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def measure_here(db: str, n: int) -> dict[str, Any]:
    """Run in the child: open the store read-only, sample, load, gallery; timings and peak RSS."""
    from graph.report.examples import GALLERY_PER_REASON, gallery_ids, load, sample_ids
    from graph.report.examples_html import section
    from graph.report.source import open_store

    conn = open_store(db)
    t0 = time.perf_counter()
    ids = sample_ids(conn, n, 0)
    sample = load(conn, ids, "directref")
    t1 = time.perf_counter()
    gallery = {r: load(conn, g, "directref") for r, g in gallery_ids(conn, GALLERY_PER_REASON, 0).items()}
    t2 = time.perf_counter()
    page = section({"sample": sample, "gallery": gallery})
    t3 = time.perf_counter()
    conn.close()
    return {"sampled": len(sample), "sample_s": round(t1 - t0, 3), "gallery_s": round(t2 - t1, 2),
            "html_s": round(t3 - t2, 3), "html_kb": round(len(page) / 1024),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,1000000", help="Comma-separated result counts.")
    parser.add_argument("--examples", type=int, default=50, help="Sample size (graph.report's --examples).")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # child mode: the store to measure
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure_here(args.measure, args.examples)))
        return
    from report import make_store

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            db = Path(tmp) / f"synthetic-{n}.sqlite"
            made = make_store(db, n)
            child = subprocess.run([sys.executable, __file__, "--measure", str(db), "--examples", str(args.examples)],
                                   capture_output=True, text=True, check=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
            row = {"results": n, "store_mb": round(db.stat().st_size / 2**20), "generate_s": round(made, 1),
                   **json.loads(child.stdout.strip().splitlines()[-1])}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            db.unlink()
    print(json.dumps({"load_average": os.getloadavg()[0], "examples": args.examples, "cases": rows}))


if __name__ == "__main__":
    main()
