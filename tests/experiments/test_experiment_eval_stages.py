"""The evaluation end of an experiment: one served model and one graded store per row, then compare.md and
results.md (the table itself: test_experiment_results.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

from experiments.eval_stages import eval_stages, row_servers
from experiments.spec import load_spec
from experiments.train_stages import training_stages
from training.cache import cached_model_dir

ROOT = Path(__file__).parents[2]
LAPTOP = ROOT / "experiments" / "specs" / "laptop.yaml"


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
    assert f"+KD+SR={out / 'eval' / 'kd-sr.sqlite'}" in by_name["results"].argv
    assert by_name["results"].outputs == [out / "results.md", out / "results.json"]
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


def test_training_tokens_come_from_the_data_once_written(tmp_path: Path) -> None:
    """Before sr_data: every id kept at typical lengths; after: the records written (4 characters a token),
    times the recipe's 6 epochs."""
    from experiments.costs import estimates

    spec, out = load_spec(LAPTOP), tmp_path / "exp"
    before = estimates(spec, out, ["train_sr"])["train_sr"]
    assert "before sr_data: 8 records at typical lengths" in before.note
    (out / "data" / "sr").mkdir(parents=True)
    (out / "data" / "sr" / "train.jsonl").write_text("x" * 399 + "\n" + "y" * 399 + "\n", encoding="utf-8")
    after = estimates(spec, out, ["train_sr"])["train_sr"]
    assert after.train_tokens == 800 // 4 * 6 and after.note.startswith("2 records written, 6 epochs")


def test_the_hard_subset_is_graded_into_each_rows_store(tmp_path: Path) -> None:
    hard = tmp_path / "hard_2025-05-08-21-00-10.jsonl"
    hard.write_text((ROOT / "tests" / "eval" / "fixtures" / "mini.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    stages, out = laptop_stages(tmp_path, hard=str(hard))
    by_name = {s.name: s for s in stages}
    assert [n for n in by_name if n.startswith("eval_kd")] == ["eval_kd", "eval_kd_hard", "eval_kd_sr", "eval_kd_sr_hard"]
    stage = by_name["eval_kd_hard"]
    assert stage.depends_on == ["train_kd", "eval_kd"] and stage.servers == by_name["eval_kd"].servers
    assert f"--data {hard} --n 8" in stage.command() and stage.command().endswith(
        f"--db {out / 'eval' / 'kd.sqlite'} --out {out / 'eval' / 'kd-hard.json'} --subset hard")
    assert stage.files == [hard] and stage.set_aside is None
    assert "hard" not in by_name["eval_kd"].reads["eval"]  # adding the hard file redoes no finished evaluation
    assert set(by_name["results"].depends_on) >= {"eval_kd_hard", "eval_base_hard"}
