"""The evaluation end of an experiment: one served model and one graded store per row, then compare.md and
results.md; the table refuses rows graded differently and reports it cannot read, in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from experiments.eval_stages import eval_stages, row_servers
from experiments.spec import load_spec
from experiments.train_stages import training_stages
from training.cache import cached_model_dir

ROOT = Path(__file__).parents[2]
LAPTOP = ROOT / "experiments" / "specs" / "laptop.yaml"
GRADING = {"prompt": "muser", "prompt_sha256": "ab" * 32, "model": "smollm2-135m-instruct", "temperature": 0.5,
           "max_tokens": 160, "output": "json_schema", "system": False}


def laptop_stages(tmp_path: Path, **changes: object) -> tuple[list, Path]:
    data = yaml.safe_load(LAPTOP.read_text(encoding="utf-8"))
    for key, value in changes.items():
        data["eval"][key] = value
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    spec, out = load_spec(path), tmp_path / "exp"
    trained = training_stages(spec, out)
    return trained + eval_stages(spec, out, 8765, [s.name for s in trained]), out


def test_each_row_is_served_on_its_own_port_and_graded_into_its_own_store(tmp_path: Path) -> None:
    stages, out = laptop_stages(tmp_path)
    by_name = {s.name: s for s in stages}
    assert list(by_name) == ["base", "train_kd", "train_kd_sr", "train_sr", "eval_base", "eval_sr", "eval_kd",
                             "eval_kd_sr", "compare", "results"]
    for name, port, after in (("eval_base", 8765, "base"), ("eval_sr", 8811, "train_sr"),
                              ("eval_kd", 8812, "train_kd"), ("eval_kd_sr", 8813, "train_kd_sr")):
        stage = by_name[name]  # the base row is the embedded model: the embedded server answers for it
        assert stage.depends_on == [after]
        assert stage.servers == ((f"serve:{port}",) if port != 8765 else ()) + ("embedded",)
        assert (f"--base-url http://127.0.0.1:{port}/v1 --max-tokens 384 --grader-base-url http://127.0.0.1:8765/v1 "
                "--grader-max-tokens 160 --grader-prompt muser") in stage.command()
        assert stage.set_aside == out / "eval" / f"{name[5:].replace('_', '-')}.sqlite"
    assert by_name["compare"].argv[-6:] == ["--labels", "base", "+SR", "+KD", "+KD+SR", "--out", str(out / "compare.md")][-6:]
    assert f"+KD+SR={out / 'eval' / 'kd-sr.json'}" in by_name["results"].argv
    servers = row_servers(load_spec(LAPTOP), out)
    assert list(servers) == ["+SR", "+KD", "+KD+SR"] and servers["+KD+SR"].serve == str(out / "models" / "kd-sr")


def test_a_base_other_than_the_embedded_model_is_served_for_its_row(tmp_path: Path) -> None:
    base = tmp_path / "my-base"
    base.mkdir()
    data = yaml.safe_load(LAPTOP.read_text(encoding="utf-8"))
    data["train"]["base"] = str(base)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    spec = load_spec(path)
    served = row_servers(spec, tmp_path / "exp")
    assert served["base"].serve == str(base) and served["base"].port == 8810
    stages = training_stages(spec, tmp_path / "exp")
    assert [s.name for s in stages] == ["train_kd", "train_kd_sr", "train_sr"]  # nothing to convert
    first = eval_stages(spec, tmp_path / "exp", 8765, [s.name for s in stages])[0]
    assert first.name == "eval_base" and first.servers == ("serve:8810", "embedded") and first.depends_on == []
    assert "--base-url http://127.0.0.1:8810/v1" in first.command()
    assert cached_model_dir() != base


def test_a_grader_url_and_the_recipe_overrides_reach_the_commands(tmp_path: Path) -> None:
    stages, _ = laptop_stages(tmp_path, grader={"url": "http://gpu1:8000/v1", "model": "judge"},
                              grader_max_tokens=512, grader_prompt="reference")
    grade = next(s for s in stages if s.name == "eval_kd")
    assert grade.servers == ("serve:8812",)
    assert ("--grader-base-url http://gpu1:8000/v1 --grader-model judge --grader-max-tokens 512 "
            "--grader-prompt reference") in grade.command()
    data = yaml.safe_load(LAPTOP.read_text(encoding="utf-8"))
    data["train"]["sr"]["args"] = {"gradient_accumulation_steps": 1, "effective_batch_size": 4, "bf16": False}
    path = tmp_path / "args.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    train_sr = next(s for s in training_stages(load_spec(path), tmp_path / "exp") if s.name == "train_sr")
    flags = dict(zip(train_sr.argv[-6::2], train_sr.argv[-5::2], strict=True))
    assert flags == {"--gradient_accumulation_steps": "1", "--effective_batch_size": "4", "--bf16": "false"}


def report(path: Path, score: float, n: int, grading: dict = GRADING) -> str:
    path.write_text(json.dumps({"score": score, "n_samples": {"overall_score": n}, "grading": grading}))
    return str(path)


def results(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "experiments.results", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_results_table_names_the_grader_and_gives_score_and_n(tmp_path: Path) -> None:
    rows = [f"base={report(tmp_path / 'b.json', 0.1234, 8)}", f"+SR={report(tmp_path / 's.json', 0.5, 7)}",
            f"+KD={report(tmp_path / 'k.json', None, 0)}"]  # type: ignore[arg-type]
    proc = results(*rows, "--out", str(tmp_path / "results.md"))
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert text == proc.stdout
    lines = text.splitlines()
    assert lines[0].startswith("Graded by muser prompt") and "smollm2-135m-instruct" in lines[0]
    assert lines[2:] == ["| Model | HealthBench (%) | n |", "|---|---:|---:|", "| base | 12.3 | 8 |", "| +SR | 50.0 | 7 |",
                         "| +KD | – | 0 |"]


@pytest.mark.parametrize(("rows", "needle"), [
    (["base=B", "+SR=OTHER"], "+SR was graded differently from base"),
    (["base=B", "+KD=missing.json"], "+KD: no report missing.json; run eval.healthbench"),
    (["base=B", "+KD=BAD"], "is not a readable report"),
    (["base"], "give each row as ROW=REPORT.json"),
    (["base=B", "+SR=OUT"], "is one of the reports"),
])
def test_results_refuse_in_one_line_and_write_nothing(tmp_path: Path, rows: list[str], needle: str) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    named = {"B": report(tmp_path / "b.json", 0.2, 3), "OTHER": report(tmp_path / "o.json", 0.2, 3, {**GRADING, "model": "x"}),
             "BAD": str(tmp_path / "bad.json"), "OUT": str(tmp_path / "results.md")}
    args = [row.split("=")[0] + "=" + named.get(row.split("=")[1], row.split("=")[1]) if "=" in row else row for row in rows]
    proc = results(*args, "--out", str(tmp_path / "results.md"))
    assert proc.returncode == 2 and needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "results.md").exists()
