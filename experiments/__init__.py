"""Experiments: a versioned spec (spec), the stages it expands to, each one of the project's own commands
(stages: the data; train_stages: training), the servers the runner starts (servers), the manifest,
fingerprints and lock of an experiment directory (manifest), and the runner that skips, redoes or continues
the stages (runner; python -m experiments.run). The top layer: it may import graph, training, eval, nodes,
state and prompts; nothing imports it."""
