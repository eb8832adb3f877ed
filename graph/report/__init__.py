"""python -m graph.report: what a graph.run store says about the self-refinement (see __main__)."""
