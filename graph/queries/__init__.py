"""Query synthesis on its own: `python -m graph.queries` (sampling, generation, storing), pre-generated
queries in a run store (`pregen`) and the priors summary (`summary`). May import graph.cli, graph.store,
nodes and state."""
