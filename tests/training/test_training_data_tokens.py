"""`training.data --tokenizer --max-length`: the data card counts tokens and the records training will drop."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from transformers import AutoTokenizer

Make = Callable[..., Path]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "training.data", *args], capture_output=True, text=True)


def test_card_counts_tokens_and_over_length_records(
    make_store: Make, tiny_model_dir: Path, tmp_path: Path
) -> None:
    store, out = make_store(), tmp_path / "kd"
    assert (
        run("--db", str(store), "--stage", "kd", "--out", str(out), "--validation-fraction", "0").returncode
        == 0
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    records = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    lengths = sorted(
        len(tokenizer.apply_chat_template(r["messages"], tokenize=True, return_dict=True)["input_ids"])
        for r in records
    )
    limit = lengths[len(lengths) // 2]

    proc = run("--db", str(store), "--stage", "kd", "--out", str(out), "--validation-fraction", "0",
               "--tokenizer", str(tiny_model_dir), "--max-length", str(limit))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    card = json.loads((out / "data_card.json").read_text())["length_tokens"]
    assert (
        card["percentiles"]["p100"] == lengths[-1]
        and card["percentiles"]["p50"] == lengths[len(lengths) // 2 - 1]
    )
    assert card["max_length"] == limit and card["over_max_length"] == sum(n > limit for n in lengths) > 0
    assert "over max_length" in proc.stdout


def test_max_length_without_tokenizer_and_bad_tokenizer_are_one_line(
    make_store: Make, tmp_path: Path
) -> None:
    store = make_store()
    proc = run("--db", str(store), "--stage", "kd", "--out", str(tmp_path / "a"), "--max-length", "100")
    assert proc.returncode == 2 and "pass --tokenizer MODEL" in proc.stderr and not (tmp_path / "a").exists()
    proc = run(
        "--db", str(store), "--stage", "kd", "--out", str(tmp_path / "b"), "--tokenizer", str(tmp_path / "x")
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "--tokenizer" in proc.stderr
