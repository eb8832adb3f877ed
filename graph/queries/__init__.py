"""Query synthesis on its own: `python -m graph.queries` (sampling, generation, storing), pre-generated
queries in a run store (`pregen`), the priors summary (`summary`), and queries given in a file for
graph.run --queries-from (`source` reads, `given` stores, `answers` exports r0 / r'). May import graph.cli,
graph.store, nodes and state."""
