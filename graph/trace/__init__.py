"""`python -m graph.trace`: run or load one query and show every step of its refinement (`cli`), rendered
for a terminal with model text made inert (`render`). May import graph.build, graph.cli, graph.store, nodes."""
