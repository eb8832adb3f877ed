"""graph.run's progress: smoothed rates on hand-made timelines, how rates read, and the plain lines
(timestamps, summary line, next command) of a real run against the stub server."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from stub_server import StubServer

from graph.batch.engine import Stats
from graph.batch.progress import calls_text, combine, summary_line
from graph.batch.rates import WARMUP_S, Smoothed, duration, eta, per_time

RULES = [
    ("Context to check", "1. We should ask the user about their age."),
    ("pitched its answer", "N/A"),
    ("Perspectives to check", "N/A"),
    ("Your reflection", "Revised answer. Please keep the child hydrated with small sips of water or an oral "
     "rehydration drink through the day. Watch for warning signs such as a stiff neck, a rash that does not "
     "fade under a glass, unusual sleepiness or fewer wet nappies than usual. A fever that lasts beyond three "
     "days, or any trouble breathing, needs a doctor the same day; call emergency services for a seizure."),
]
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[graph\.run\] done \d+/\d+ ")


def test_a_steady_but_bursty_run_keeps_a_steady_eta() -> None:
    """Five ids every 10 s (0.5/s on average), sampled each second: the rate between two samples swings
    between 0 and 5/s (an ETA between 0:01:30 and forever), the smoothed one stays within 15%."""
    s = Smoothed(0.0)
    rates = []
    done = 0
    for second in range(1, 1201):
        if second % 10 == 0:
            done += 5
        s.add(float(second), done)
        if second > 300:
            rates.append(s.rate(float(second), done))
    assert min(rates) > 0.85 * 0.5 and max(rates) < 1.15 * 0.5, (min(rates), max(rates))


def test_a_real_change_of_speed_shows_within_minutes() -> None:
    s = Smoothed(0.0)
    for second in range(1, 301):  # 2 per second for five minutes …
        s.add(float(second), 2 * second)
    for second in range(301, 901):  # … then 0.5 per second for ten
        s.add(float(second), 600 + 0.5 * (second - 300))
    assert s.rate(900.0, 900) == pytest.approx(0.5, abs=0.05)


def test_before_warm_up_the_whole_run_average_is_used() -> None:
    s = Smoothed(100.0)
    s.add(101.0, 4)
    assert WARMUP_S > 1 and s.rate(102.0, 8) == pytest.approx(4.0)


def test_rates_and_durations_read_as_people_say_them() -> None:
    assert per_time(2.345, "ids") == "2.3 ids/s"
    assert per_time(0.25) == "15/min" and per_time(0.01) == "0.6/min"
    assert duration(3725) == "1:02:05" and duration(math.inf) == "–"
    assert eta(0, 0.0) == 0.0 and eta(10, 0.0) == math.inf and eta(10, 0.5) == 20


def test_stats_of_workers_add_up_with_calls_per_stage() -> None:
    a = Stats(done=2, kept=1, dropped=1, in_flight=3, in_flight_calls={"generate": 2, "eval_safety": 1})
    b = Stats(done=1, failed=1, in_flight=1, in_flight_calls={"generate": 1})
    total = combine([a, b])
    assert (total.done, total.failed, total.in_flight) == (3, 1, 4)
    assert calls_text(total.in_flight_calls) == "eval_safety 1, generate 3"
    assert calls_text(total.in_flight_calls, plain=True) == "eval_safety:1,generate:3"
    assert calls_text({}) == "none"


def test_summary_line_names_elapsed_throughput_outcome_and_next_command() -> None:
    line = summary_line(Stats(done=90, kept=80, dropped=7, failed=3), 120.0, 100, 3, "runs/a.sqlite")
    assert line == ("stored: 100 results and 3 failures in runs/a.sqlite; this session 90 ids in 0:02:00 "
                    "(45 ids/min): 80 kept, 7 dropped, 3 failed. Next: python -m training.data --db runs/a.sqlite "
                    "--stage sr --out data/a-sr (or python -m graph.report --db runs/a.sqlite)")
    none_kept = summary_line(Stats(done=4, dropped=4), 60.0, 4, 0, "runs/b.sqlite")
    assert none_kept.endswith("0 kept, 4 dropped, 0 failed. Next: python -m graph.report --db runs/b.sqlite")


def test_plain_progress_lines_carry_timestamps_and_end_with_the_summary(tmp_path: Path) -> None:
    stub = StubServer(rules=list(RULES), record=False).start()
    try:
        db = tmp_path / "run.sqlite"
        proc = subprocess.run([sys.executable, "-m", "graph.run", "--n", "12", "--db", str(db), "--base-url", stub.url,
                               "--concurrency", "4"], capture_output=True, text=True, timeout=120)
    finally:
        stub.stop()
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    progress = [line for line in lines if "[graph.run]" in line]
    assert progress and all(STAMP.match(line) for line in progress), progress
    assert "done 12/12 " in progress[-1] and " elapsed 0:00:" in progress[-1] and " calls " in progress[-1]
    assert lines[-1].startswith("stored: 12 results and 0 failures in ")
    assert re.search(r"this session 12 ids in \d:\d\d:\d\d \([\d.,]+ ids/(s|min)\): 12 kept, 0 dropped, 0 failed", lines[-1])
    assert lines[-1].endswith(f"Next: python -m training.data --db {db} --stage sr --out data/run-sr "
                              f"(or python -m graph.report --db {db})")
