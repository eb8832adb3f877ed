"""Typed data: the run configuration and its resolver, the attribute priors and sampler, and the graph
state; beside them the small helpers every package shares (paths, processes). Imports nothing else of
this project."""
