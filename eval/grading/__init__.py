"""Rubric grading: the grader prompt and request (`grader`), the grading setup and its fingerprint
(`setup`) and the reference scoring (`scoring`). May import eval.data, nodes.llm, prompts and state."""
