"""The data-quality gate's per-record rules: small pure functions that each return keep (None) or a reason.

`rules.gate_reason` composes them (truncated, repetition, prompt_echo); the filter node and the dataset
builder both call it. Imports only `prompts` (to read the templates' fixed text) — never nodes.llm, graph
or training.
"""
