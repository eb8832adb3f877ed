"""HealthBench evaluation: the entry points `healthbench`, `compare` and `meta` (a package), and their
shared options; data loading, grading, the answer-and-grade batch with its store, and reports in wings.
May import nodes.llm, state, prompts and graph.serve (the embedded model)."""
