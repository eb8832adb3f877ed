"""Reports of graded runs: aggregated report JSON and tables, the side-by-side comparison table and
plots. May import eval.data and eval.grading."""
