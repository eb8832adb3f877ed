"""A real graph.run against tests/stub_server.py whose evaluators depend on the user's context:
decision fires only on queries that leave details out, communication only on the others."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from stub_server import StubServer

INCOMPLETE_QUERY = "My daughter has a fever and a cough since yesterday, what should I do? I am not sure what else matters."
COMPLETE_QUERY = ("My 3 year old daughter (14 kg) has had a fever of 39.5 for two days; she takes no medicines and her "
                  "vaccines are up to date. What should I do?")
REFINED = ("Thank you for the details. Do you know her weight in kilograms? Keep her drinking small sips of water "
           "or diluted juice often, and dress her in light clothes. Paracetamol or ibuprofen at the dose for her "
           "weight can make her more comfortable. Watch for warning signs: unusual sleepiness, fast or noisy "
           "breathing, a rash that does not fade under a glass, a stiff neck or fewer wet nappies than usual. "
           "See a doctor today if the fever lasts beyond three days.")


def _has(needle: str, yes: str, no: str = "N/A") -> Any:
    return lambda body: yes if needle in json.dumps(body) else no


RULES: list[tuple[str, Any]] = [
    ("they give: incomplete", INCOMPLETE_QUERY),
    ("Write the message that a person sends", COMPLETE_QUERY),
    ("improved answer", REFINED),
    ("the context that matters most", _has("not sure what else", "1. We should ask about her current medicines.\n"
                                           "2. We should ask how old she is and what she weighs.")),
    ("pitched its answer", _has("vaccines are up to date", "We should explain the dosing in plain words [/].")),
    ("safety considerations", "We should tell the user to seek urgent care if breathing becomes difficult."),
]


def stub_run(db: Path, n: int, teacher: bool = True) -> subprocess.CompletedProcess[str]:
    """graph.run --n n into db against a fresh stub server (also the teacher's endpoint)."""
    stub = StubServer(rules=list(RULES), record=False).start()
    try:
        args = [sys.executable, "-m", "graph.run", "--n", str(n), "--db", str(db), "--base-url", stub.url,
                "--concurrency", "8"]
        if teacher:
            args += ["--teacher-base-url", stub.url]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    finally:
        stub.stop()
    if proc.returncode != 0:
        raise AssertionError(f"graph.run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc
