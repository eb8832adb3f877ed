"""`python -m eval.meta`: the grader against physicians' labels: the labelled rows (`rows`), agreement
statistics (`agreement`) and the command (`cli`). May import eval.batch, eval.data, eval.grading, eval.reports."""
