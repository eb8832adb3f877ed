"""The experiment spec: checked whole before anything runs, with one line naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from experiments.spec import SpecError, load_spec

LAPTOP = Path(__file__).parents[2] / "experiments" / "specs" / "laptop.yaml"


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def laptop() -> dict:
    return yaml.safe_load(LAPTOP.read_text(encoding="utf-8"))


def test_the_laptop_spec_loads_with_every_later_field() -> None:
    spec = load_spec(LAPTOP)
    assert spec.name == "laptop" and spec.run.profile == "small" and spec.models.teacher == "embedded"
    assert spec.train.kd and spec.train.kd.recipe == "smollm2-135m/kd.yaml" and spec.eval.n == 8
    assert spec.rows == ["base", "+SR", "+KD", "+KD+SR"]


@pytest.mark.parametrize(("change", "needle"), [
    (lambda d: d["run"].update(nn=3), "run.nn: unknown key"),
    (lambda d: d.update(extra=1), "extra: unknown key"),
    (lambda d: d["run"].update(n=0), "run.n: Input should be greater than or equal to 1"),
    (lambda d: d.update(version=2), "version 2 is not known"),
    (lambda d: d.pop("version"), "version: Field required"),
    (lambda d: d["models"].update(backbone="http://x"), "models.backbone"),
    (lambda d: d["models"].update(backbone={"url": "gpu1:8000"}), "must start with http"),
    (lambda d: d["train"]["kd"].update(recipe="nope.yaml"), "no recipe 'nope.yaml'"),
    (lambda d: d["models"].pop("teacher"), "need models.teacher"),
    (lambda d: d["run"].update(refiner="best"), "run.refiner"),
    (lambda d: d.update(rows=["base", "+XY"]), "rows.1"),
    (lambda d: d.update(name="a b"), "name"),
    (lambda d: d["train"]["kd"].update(args={"output_dir": "x"}), "args.output_dir: not a recipe setting"),
    (lambda d: d["train"]["kd"].update(args={"lr; rm": 1}), "not a recipe setting"),
    (lambda d: d["eval"].update(max_tokens=0), "eval.max_tokens"),
    (lambda d: d["eval"].update(grader_prompt="mine"), "eval.grader_prompt"),
    (lambda d: d["eval"].update(hard="no/such/hard.jsonl"), "eval.hard: Value error, no file 'no/such/hard.jsonl'"),
    (lambda d: d.update(rows=["base", "+SR", "base"]), "each row once"),
    (lambda d: d.update(rows=["base"], train={}), "row base needs a base model: set train.base"),
    (lambda d: d["models"].update(teacher={"serve": "m", "port": 8812}), "the rows' servers would take port 8812"),
])
def test_a_bad_spec_is_refused_in_one_line_naming_the_field(tmp_path: Path, change, needle: str) -> None:
    data = laptop()
    change(data)
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, data))
    assert needle in str(err.value) and "\n" not in str(err.value), str(err.value)


@pytest.mark.parametrize(("text", "needle"), [("- a\n- b\n", "expected a mapping"), ("a: [", "not a readable YAML")])
def test_not_a_spec(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(SpecError, match=needle):
        load_spec(write(tmp_path, text))
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "missing.yaml")


def test_endpoints_and_no_teacher_without_kd_rows(tmp_path: Path) -> None:
    data = laptop()
    data["models"] = {"backbone": {"url": "http://gpu1:8000/v1/", "model": "qwen"}}
    data["rows"] = ["base", "+SR"]
    spec = load_spec(write(tmp_path, data))
    assert spec.models.backbone.url == "http://gpu1:8000/v1" and not spec.needs_teacher()  # type: ignore[union-attr]


def test_a_served_model_gets_its_own_port_and_url(tmp_path: Path) -> None:
    from experiments.stages import data_stages

    data = laptop()
    data["models"]["teacher"] = {"serve": "my-org/teacher-7b", "port": 8801, "args": ["--max-model-len", "4096"]}
    spec = load_spec(write(tmp_path, data))
    graphs, teacher, *_ = data_stages(spec, tmp_path / "exp", "http://127.0.0.1:8765/v1")
    assert graphs.servers == ("embedded",) and teacher.servers == ("embedded", "serve:8801")
    assert "--teacher-base-url http://127.0.0.1:8801/v1" in teacher.command()
    data["eval"]["grader"] = {"serve": "my-org/grader", "port": 8801}
    with pytest.raises(SpecError, match="two served models on port 8801"):
        load_spec(write(tmp_path, data))


def test_trained_rows_need_their_recipe(tmp_path: Path) -> None:
    data = laptop()
    data["train"].pop("sr")
    with pytest.raises(SpecError, match=r"rows \+SR, \+KD\+SR need train.sr"):
        load_spec(write(tmp_path, data))


def test_the_evaluation_set_must_exist(tmp_path: Path) -> None:
    data = laptop()
    data["eval"]["data"] = str(tmp_path / "healthbench_full.jsonl")
    with pytest.raises(SpecError, match=r"eval\.data: Value error, no file"):
        load_spec(write(tmp_path, data))


@pytest.mark.parametrize("size", ["14b", "32b"])
def test_the_gpu_specs_plan_every_stage_offline(tmp_path: Path, size: str) -> None:
    """The shipped GPU specs: the paper's roles, served models and recipes; --dry-run gives each stage's calls,
    tokens and training tokens and the totals with a cost, and starts and writes nothing."""
    import subprocess
    import sys

    spec = LAPTOP.parent / f"qwen3-{size}.yaml"
    loaded = load_spec(spec)
    assert loaded.run.n == 1_000_000 and loaded.train.base == f"Qwen/Qwen3-{size.upper()}"
    from eval.data.examples import load_examples

    run = [sys.executable, "-m", "experiments.run", str(spec), "--out", str(tmp_path / "x"), "--dry-run"]
    proc = subprocess.run([*run, "--price-in", "0.5", "--price-out", "2"], cwd=LAPTOP.parents[2],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    # calls: per id a query, an answer, 3 evaluations and a refinement, plus the teacher's answer; per row an
    # answer per bundled example and a grader call per rubric item
    bundled = load_examples("bundled")[0]
    rows = len(bundled) + sum(len(ex.rubrics) for ex in bundled)
    assert f"total: {7 * 1_000_000 + 4 * rows:,} model calls" in proc.stdout, proc.stdout
    assert proc.stdout.count(f"{len(bundled)} answers") == 4 and "1,000,000 of 1,000,000 ids to run" in proc.stdout
    assert proc.stdout.count("training tokens; before ") == 3 and "cost if every call were priced at $0.5 in" in proc.stdout
    names = [line.split()[1].rstrip(":") for line in proc.stdout.splitlines() if line.startswith("run ")]
    assert names == ["graphs", "teacher", "kd_data", "sr_data", "train_kd", "train_kd_sr", "train_sr", "eval_base",
                     "eval_sr", "eval_kd", "eval_kd_sr", "compare", "results"]
    assert proc.stdout.count("python -m accelerate.commands.launch --multi_gpu") == 3
    assert "--generator-model deepseek-chat" in proc.stdout and "--grader-model gpt-4.1-2025-04-14" in proc.stdout
    assert not (tmp_path / "x").exists() and "starting" not in proc.stdout


@pytest.mark.parametrize(("flags", "needle"), [
    (["--dry-run", "--price-in", "1"], "pass --price-in and --price-out together, with --dry-run"),
    (["--price-in", "1", "--price-out", "2"], "with --dry-run"),
    (["--dry-run", "--price-in", "-1", "--price-out", "2"], "numbers ≥ 0"),
])
def test_prices_are_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str],
                                        needle: str) -> None:
    from experiments.run import main

    assert main([str(LAPTOP), "--out", str(tmp_path / "x"), *flags]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "x").exists()


def test_a_dry_run_over_an_unreadable_evaluation_file_is_refused_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from experiments.run import main

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"not": "healthbench"}\n', encoding="utf-8")
    data = laptop()
    data["eval"]["data"] = str(bad)
    assert main([str(write(tmp_path, data)), "--out", str(tmp_path / "x"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"error: eval data {bad}: {bad} line 1: prompt_id is missing" in err and len(err.strip().splitlines()) == 1
