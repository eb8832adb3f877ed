"""How chat records meet the tokenizer: prompt/completion split and a check that `<think>` survives.

Records are trained as TRL prompt/completion conversations (user turn = prompt, assistant turn =
completion), so TRL's completion-only loss masks every prompt token. Some templates (Qwen3's) drop
the reasoning of assistant turns that precede the last user turn; `ensure_reasoning_kept` renders a
probe and, when the reasoning is lost, swaps in TRL's training variant of the template for training.
"""

from __future__ import annotations

from typing import Any

from state.errors import InputError

PROBE_REASONING = "muser probe reasoning 7f3a"
PROBE_ANSWER = "muser probe answer 7f3a"
PROBE = {
    "prompt": [{"role": "user", "content": "muser probe question"}],
    "completion": [
        {"role": "assistant", "content": f"<think>\n{PROBE_REASONING}\n</think>\n\n{PROBE_ANSWER}"}
    ],
}


def to_prompt_completion(record: dict[str, Any]) -> dict[str, Any]:
    """Split a `{"messages": [...]}` record into prompt (all turns but the last) and completion (the last)."""
    messages = record["messages"]
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError(f"record {record.get('id')} does not end with an assistant turn")
    return {"prompt": messages[:-1], "completion": messages[-1:]}


def render(tokenizer: Any, chat_template: str | None = None) -> tuple[str, str]:
    """The probe rendered as (prompt with generation prompt, prompt + completion)."""
    kwargs = {"tokenize": False, "chat_template": chat_template}
    prompt = tokenizer.apply_chat_template(PROBE["prompt"], add_generation_prompt=True, **kwargs)
    full = tokenizer.apply_chat_template(PROBE["prompt"] + PROBE["completion"], **kwargs)
    return prompt, full


def reasoning_kept(tokenizer: Any, chat_template: str | None = None) -> bool:
    """True when the completion tokens still carry the reasoning, closed by `</think>` before the answer.

    The `<think>` opener may sit in the completion or end the generation prompt (templates that open the
    think block for the model); either way the prompt must be a prefix of prompt + completion.
    """
    prompt, full = render(tokenizer, chat_template)
    if not full.startswith(prompt):
        return False
    completion = full[len(prompt) :]
    start = completion.find(PROBE_REASONING)
    close, answer = completion.find("</think>", max(start, 0)), completion.find(PROBE_ANSWER)
    return -1 < start < close < answer and "<think>" in full[: len(prompt) + start]


def ensure_reasoning_kept(tokenizer: Any, model_ref: str) -> str | None:
    """Make the tokenizer's template keep `<think>` for training; return the original template if swapped.

    The caller restores the returned template before saving, so the served model keeps its own template.
    """
    if not tokenizer.chat_template:
        raise InputError(
            f"model {model_ref} has no chat template — pass --chat_template_path with a ChatML .jinja file"
        )
    if reasoning_kept(tokenizer):
        return None
    from trl.chat_template_utils import get_training_chat_template

    try:
        replacement = get_training_chat_template(tokenizer)
    except ValueError:  # TRL has no training variant of this template
        replacement = None
    if replacement is None or not reasoning_kept(tokenizer, replacement):
        raise InputError(
            f"the chat template of {model_ref} drops the <think> reasoning from the assistant turn — pass "
            "--chat_template_path with a template that renders it"
        )
    original = str(tokenizer.chat_template)
    tokenizer.chat_template = replacement
    return original
