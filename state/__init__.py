"""Typed data: the run configuration, its resolver and profiles (with the small profile's output grammars),
the attribute priors and sampler, and the graph state; beside them the small helpers every package shares
(paths, processes). Imports nothing else of this project."""
