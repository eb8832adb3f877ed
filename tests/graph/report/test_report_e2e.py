"""graph.run against the stub server, then graph.report on its store: the figures agree with the
store, the context breakdown shows what the stub's evaluators were scripted to do, and the trace
commands the page links to work."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from stubrun import stub_run

N = 20


def test_report_of_a_real_run(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite"
    stub_run(db, N)
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "graph.report", "--db", str(db), "--out", str(out)],
                          capture_output=True, text=True, timeout=120, env=os.environ | {"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())

    conn = sqlite3.connect(db)
    incomplete = conn.execute("SELECT count(*) FROM results r JOIN queries q USING (id) "
                              "WHERE json_extract(q.attributes, '$.completeness') = 'incomplete'").fetchone()[0]
    kept = conn.execute("SELECT count(*) FROM results WHERE kept = 1").fetchone()[0]
    prompt_tokens = conn.execute("SELECT sum(json_extract(usage, '$.prompt_tokens')) FROM results").fetchone()[0]
    conn.close()
    assert 0 < incomplete < N  # seed 0 samples both kinds (complete has prior 0.2)

    assert report["outcome"]["results"] == N and report["outcome"]["kept"]["k"] == kept
    cells = {(c["value"], c["facet"]): c for c in report["context"]["attributes"]["completeness"]}
    assert (cells["incomplete", "decision"]["k"], cells["incomplete", "decision"]["n"]) == (incomplete, incomplete)
    assert (cells["complete", "decision"]["k"], cells["complete", "decision"]["n"]) == (0, N - incomplete)
    assert cells["incomplete", "decision"]["low"] > cells["complete", "decision"]["high"]  # the intervals separate
    assert cells["complete", "communication"]["rate"] == 1.0 and cells["incomplete", "communication"]["rate"] == 0.0
    assert report["facets"]["safety"]["lacking"] == N
    assert report["facets"]["decision"]["rationale_counts"] == {"0": N - incomplete, "2": incomplete}
    assert [o["opening"] for o in report["facets"]["decision"]["openings"]] == ["we should ask about", "we should ask how"]
    assert report["refinement"]["asks_question_r1"]["k"] == N  # every r' asks "Do you know her weight…?"
    nodes = {n["node"]: n["calls"] for n in report["cost"]["nodes"]}
    assert nodes == {"query": N, "generate": N, "eval_decision": N, "eval_communication": N, "eval_safety": N, "refine_directref": N}
    assert report["cost"]["total"]["prompt_tokens"] == prompt_tokens
    assert report["teacher"]["answers"] == N

    page = (out / "report.html").read_text()
    commands = re.findall(r"<code>(python -m graph\.trace --db [^<]+ --id \d+)</code>", page)
    assert commands
    shown = subprocess.run(commands[0].replace("python", sys.executable, 1).split(), capture_output=True, text=True,
                           timeout=120, env=os.environ | {"COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    assert "We should" in shown.stdout
