"""The graph's nodes (one module each), the pure parsers they call, and `NodeContext`; the LLM client lives
in the `llm` wing, the data-quality gate's per-record rules in the `gate` wing. May import state and prompts; never graph, training or eval."""
