"""Supervised fine-tuning on TRL's SFTTrainer: `python -m training.sft --config RECIPE.yaml [--key value ...]`.

Stage kd trains on the teacher's answers, stage sr continues from kd's output on (q, t', r'). Loss is on
the assistant turn only (prompt/completion records), training resumes from the last checkpoint in
output_dir, and the final model + tokenizer are saved in output_dir, ready for vLLM.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trl import ModelConfig

from state.errors import InputError, run_cli
from training.dataset.chat_format import ensure_reasoning_kept, to_prompt_completion
from training.guards import model_placement
from training.preflight import Plan, preflight
from training.sft_config import MuserSFTConfig, parse_sft_args
from training.summary import length_report, loss_summary, resolved_settings
from training.throughput import count_parameters, peak_tflops, throughput

log = logging.getLogger("training.sft")
SUMMARY_FILE = "train_summary.json"
RESOLVED_FILE = "muser_sft_config.json"


def load_splits(plan: Plan) -> tuple[Any, Any]:
    """Train and (optional) validation datasets as TRL prompt/completion conversations."""
    from datasets import load_dataset

    files = {"train": str(plan.train_file)}
    if plan.validation_file is not None:
        files["validation"] = str(plan.validation_file)
    data = load_dataset("json", data_files=files)
    converted = data.map(to_prompt_completion, remove_columns=data["train"].column_names)
    return converted["train"], converted.get("validation")


def build_trainer(config: MuserSFTConfig, model_args: ModelConfig, plan: Plan) -> tuple[Any, Any, dict]:
    """The guarded trainer with over-length records dropped; returns (trainer, tokenizer, length report).

    TRL would keep the start of an over-long record and train on an answer cut mid-sentence, so TRL gets
    no `max_length` and records longer than it are dropped whole (and counted) instead.
    """
    from transformers import AutoTokenizer
    from transformers.trainer_utils import IntervalStrategy
    from trl import get_peft_config

    from training.trainer import FingerprintWriter, GuardedSFTTrainer, StepTimer, drop_over_length

    tokenizer = AutoTokenizer.from_pretrained(
        plan.model_path, revision=model_args.model_revision, trust_remote_code=config.trust_remote_code
    )
    template_file = config.chat_template_path
    if template_file and template_file.endswith((".jinja", ".j2")):
        tokenizer.chat_template = Path(template_file).read_text(encoding="utf-8")
        config.chat_template_path = None
    original_template = (
        None if config.chat_template_path else ensure_reasoning_kept(tokenizer, plan.model_path)
    )

    train_set, eval_set = load_splits(plan)
    if eval_set is None and config.eval_strategy != IntervalStrategy.NO:
        log.warning("validation split is empty: evaluation is switched off for this run")
        config.eval_strategy = IntervalStrategy.NO
    config.model_init_kwargs = {
        "revision": model_args.model_revision,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
        "use_cache": False,  # with a KV cache, transformers ignores the per-record position ids of padding-free rows
        **model_placement(config, plan.world_size),
        **(config.model_init_kwargs or {}),  # type: ignore[dict-item]
    }
    limit = config.max_length
    config.max_length = None
    config.include_num_input_tokens_seen = "all" if config.padding_free else "non_padding"
    timer = StepTimer()
    trainer = GuardedSFTTrainer(
        model=plan.model_path,
        args=config,
        train_dataset=train_set,
        eval_dataset=eval_set if config.eval_strategy != IntervalStrategy.NO else None,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        callbacks=[timer, FingerprintWriter(plan.fingerprint)],
    )
    config.max_length = limit
    trainer.timer = timer
    trainer.original_template = original_template
    trainer.train_dataset, dropped, lengths = drop_over_length(trainer.train_dataset, limit)
    if trainer.eval_dataset is not None:
        trainer.eval_dataset, _, _ = drop_over_length(trainer.eval_dataset, limit)
    report = length_report(lengths, dropped, limit)
    if dropped:
        log.warning(
            "dropped %d of %d training records longer than max_length %s tokens (longest %d); "
            "raise --max_length to keep them",
            dropped, len(lengths), limit, report["length_tokens"]["p100"],
        )  # fmt: skip
    if dropped == len(lengths):
        raise InputError(
            f"every training record is longer than max_length {limit} tokens (shortest {min(lengths)}) — "
            "raise --max_length"
        )
    return trainer, tokenizer, report


def train(config: MuserSFTConfig, model_args: ModelConfig, plan: Plan) -> dict[str, Any]:
    """Train (resuming when a checkpoint exists), check the weights, save model + tokenizer; return the summary."""
    from training.trainer import device_name, peak_memory_bytes

    started = time.monotonic()
    trainer, tokenizer, lengths = build_trainer(config, model_args, plan)
    if plan.resume_from:
        log.info("resuming from %s", plan.resume_from)
    result = trainer.train(resume_from_checkpoint=plan.resume_from)
    trainer.check_weights_finite()
    if trainer.original_template is not None:
        tokenizer.chat_template = trainer.original_template
    trainer.model.config.use_cache = True  # the saved model generates with its KV cache
    trainer.save_model(str(plan.output_dir))
    summary = loss_summary(trainer.state.log_history, result.metrics, time.monotonic() - started)
    summary["data"] = lengths
    summary["throughput"] = throughput(
        trainer.timer.tokens,
        trainer.timer.seconds,
        count_parameters(trainer.model),
        plan.world_size,
        peak_tflops(device_name()),
        peak_memory_bytes(),
    )
    summary["device"] = device_name() or "cpu"
    if trainer.is_world_process_zero():
        (plan.output_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    trainer.accelerator.end_training()  # waits for every rank, then closes the process group
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry: parse, check everything, then train."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        raise InputError(
            "no recipe given — run `python -m training.sft --config training/recipes/<backbone>/<stage>.yaml`"
        )
    config, model_args = parse_sft_args(args)
    if config.process_index != 0:
        log.setLevel(logging.WARNING)  # one copy of the run's log lines, from the main process
    plan = preflight(config, model_args)
    if plan.finished:
        log.info(
            "nothing left to train: %s reached the last step and %s holds the final model",
            plan.resume_from,
            plan.output_dir,
        )
        return 0
    settings = resolved_settings(config, model_args, plan)
    log.info("resolved configuration: %s", json.dumps(settings))
    if config.process_index == 0:
        plan.output_dir.mkdir(parents=True, exist_ok=True)
        (plan.output_dir / RESOLVED_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    try:
        summary = train(config, model_args, plan)
    except BaseException:
        if config.process_index == 0 and not any(plan.output_dir.glob("checkpoint-*")):
            (plan.output_dir / RESOLVED_FILE).unlink(missing_ok=True)  # no run to describe: leave no trace
        raise
    speed = summary["throughput"]
    log.info(
        "done: %s steps, loss %s → %s, %.0f s, %.0f tokens/s per device (MFU %s); model saved to %s",
        summary["global_step"],
        summary["first_loss"],
        summary["last_loss"],
        summary["wall_time_s"],
        speed["tokens_per_second_per_device"],
        speed["mfu"],
        plan.output_dir,
    )
    return 0


if __name__ == "__main__":
    run_cli(main)
