"""Answering and grading a set of examples: the concurrent runner, its resumable SQLite store, the policy
and grader clients and live progress. May import eval.data, eval.grading, nodes.llm, state and graph.serve."""
