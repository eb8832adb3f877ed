"""The data-quality gate: `rules` holds every per-record rule in one order and the one vocabulary of drop
reasons; its parts are truncation, repetition, echo and the shared word unit (text). The filter node and
the dataset builder both judge with `rules.first_reason`. Imports only `prompts` (to read the templates'
fixed text) — never nodes.llm, graph or training.
"""
