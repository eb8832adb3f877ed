"""Typed data: the run configuration and its resolver, the attribute priors and sampler, and the graph
state. Imports nothing else of this project."""
