"""The dataset as users hand it on: README.md card loadable by datasets, --push-to-hub failing in one line;
and training.sft's short --help."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml
from training_store import store_rows

ROOT = Path(__file__).parents[2]
Make = Callable[..., Path]


def data_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "training.data", *args], capture_output=True, text=True, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(ROOT), **env})


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_dataset_card_is_written_and_the_folder_loads(make_store: Make, tmp_path: Path) -> None:
    rows = store_rows(12)
    rows[2]["refined_answer"] = "Too short."
    store = make_store(rows)
    out = tmp_path / "sr"
    proc = data_cli("--db", str(store), "--stage", "sr", "--out", str(out), "--validation-fraction", "0.25")
    assert proc.returncode == 0, proc.stderr
    text = (out / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    import json

    card = json.loads((out / "data_card.json").read_text())
    sizes = {s["name"]: s["num_examples"] for s in meta["dataset_info"]["splits"]}
    assert sizes == {k: v for k, v in (("train", card["counts"]["train"]), ("validation", card["counts"]["validation"])) if v}
    assert meta["license"] == "other" and "licence" in meta["license_details"]
    assert f"Of {card['counts']['scanned']} stored rows, {card['counts']['written']} were kept" in text
    for reason, n in card["dropped"].items():
        assert f"`{reason}`: {n}" in text

    import datasets

    loaded = datasets.load_dataset(str(out))
    assert {name: len(split) for name, split in loaded.items()} == sizes
    assert loaded["train"][0]["messages"][0]["role"] == "user"


def test_push_to_hub_unreachable_is_one_line_and_keeps_the_dataset(make_store: Make, tmp_path: Path) -> None:
    store = make_store()
    out = tmp_path / "kd"
    proc = data_cli("--db", str(store), "--stage", "kd", "--out", str(out), "--push-to-hub", "me/muser-kd",
                    HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}", HF_TOKEN="hf_test", HF_HUB_DISABLE_TELEMETRY="1")
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: could not push") and "me/muser-kd" in last, proc.stderr
    assert (out / "README.md").is_file() and (out / "train.jsonl").is_file()


def test_push_to_hub_bad_name_is_refused_before_writing(make_store: Make, tmp_path: Path) -> None:
    proc = data_cli("--db", str(make_store()), "--stage", "kd", "--out", str(tmp_path / "x"), "--push-to-hub", "noslash")
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error: --push-to-hub 'noslash'")
    assert not (tmp_path / "x").exists()


def test_sft_help_is_short_with_the_projects_flags_first() -> None:
    proc = subprocess.run([sys.executable, "-m", "training.sft", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-1500:]
    lines = proc.stdout.splitlines()
    assert len(lines) < 60
    flags = [ln.strip() for ln in lines if ln.startswith("  --")]
    assert flags[:4] == ["--config", "--dataset_dir", "--effective_batch_size", "--allow_changed_resume"]
    assert "--help-all" in lines[-1]
