"""eval.compare against stores written by real runs: n, failures, caveats, consensus, picked runs, and
refusal of runs graded differently.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from evalkit import MINI, mini_rows, stub_grade, write_jsonl
from stub_server import StubServer

from eval.compare import main as compare_main
from eval.healthbench import main


def run_args(policy: StubServer, grader: StubServer, db: Path, *extra: str, data: Path = MINI) -> list[str]:
    return [
        "--data",
        str(data),
        "--base-url",
        policy.url,
        "--grader-base-url",
        grader.url,
        "--db",
        str(db),
        *extra,
    ]


def test_mixed_grading_setups_are_refused_unless_allowed(
    policy: StubServer, grader: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, tuned = tmp_path / "base.sqlite", tmp_path / "tuned.sqlite"
    assert main(run_args(policy, grader, base)) == 0
    assert main(run_args(policy, grader, tuned, "--grader-prompt", "muser")) == 0
    capsys.readouterr()
    out = tmp_path / "cmp.md"
    assert compare_main([str(base), str(tuned), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the runs were graded differently") and err.count("\n") == 1
    assert "tuned full (run 1) vs base full (run 1): prompt, prompt_sha256, system, output differ" in err
    assert not out.exists()
    assert compare_main([str(base), str(tuned), "--out", str(out), "--allow-mixed-graders"]) == 0
    captured = capsys.readouterr()
    assert "warning: graded differently" in captured.err
    assert "muser prompt" in out.read_text() and "reference prompt" in out.read_text()


def test_grader_sampling_counts_as_a_different_setup(
    policy: StubServer, grader: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, tuned = tmp_path / "base.sqlite", tmp_path / "tuned.sqlite"
    assert main(run_args(policy, grader, base)) == 0
    assert main(run_args(policy, grader, tuned, "--grader-temperature", "0")) == 0
    capsys.readouterr()
    assert compare_main([str(base), str(tuned)]) == 2
    assert ": temperature differ" in capsys.readouterr().err


def test_table_shows_n_failures_samples_and_consensus(
    policy: StubServer, servers: Callable[..., StubServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flaky = servers(
        "grader-model",
        lambda body: "no idea" if "itchy red patch" in body["messages"][-1]["content"] else stub_grade(body),
    )
    db = tmp_path / "base.sqlite"
    consensus = write_jsonl(tmp_path / "consensus_mini.jsonl", mini_rows()[:2])
    assert main(run_args(policy, flaky, db, "--grader-retries", "0")) == 1  # full: rash items fail
    assert main(run_args(policy, flaky, db, data=consensus)) == 0
    assert (
        main(run_args(policy, flaky, db, "--n", "1", data=write_jsonl(tmp_path / "hard.jsonl", mini_rows())))
        == 0
    )
    capsys.readouterr()
    assert compare_main([str(db)]) == 0
    table = capsys.readouterr().out
    lines = table.splitlines()
    assert lines[0].startswith("| Run | Full | Hard | Consensus |")
    # full: mean(0.5, -0.3) over 2 of 3 examples (rash dropped); hard: the sampled sleep example, -0.3
    # clipped to 0; consensus: fever and sleep, mean(0.5, -0.3)
    assert lines[2].startswith("| base | 10.0† | 0.0* | 10.0 | ")
    assert "| base | full | 1 | 2/3 | 3 | 0 | † incomplete (drop-example) |" in table
    assert "| base | hard | 3 | 1/1 | 0 | 0 | * --n sample |" in table
    assert "| base | consensus | 2 | 2/2 | 0 | 0 | complete |" in table


def test_runs_can_be_picked_by_id_and_listed(
    policy: StubServer, grader: StubServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "base.sqlite"
    assert main(run_args(policy, grader, db)) == 0
    assert main(run_args(policy, grader, db, "--n", "1")) == 0  # the latest full run is a sample
    capsys.readouterr()
    assert compare_main([str(db), "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == [f"{db}@1", f"{db}@2"]
    assert compare_main([str(db)]) == 0
    assert "| base | full | 2 | 1/1 |" in capsys.readouterr().out
    assert compare_main([f"{db}@1"]) == 0
    assert "| base | full | 1 | 3/3 | 0 | 0 | complete |" in capsys.readouterr().out
    assert compare_main([f"{db}@1,2"]) == 2
    assert "both full; pick one run per subset" in capsys.readouterr().err
    assert compare_main([f"{db}@7"]) == 2
    assert "has no finished run 7" in capsys.readouterr().err
