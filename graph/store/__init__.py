"""The run store: SQLite schema and writes (`db`), the one-owner lock (`owner`) and the checks made before a
run writes anything (`preflight`). May import nodes.llm, state and prompts; never the batch engine."""
