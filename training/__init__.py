"""Training: `python -m training.data` (dataset building, in the `dataset` wing), `training.prepare_base`,
`training.sft` with its preflight, guards and trainer, and `training.gpu_smoke` (its parts in `smoke`).
Imports nothing of graph, nodes or eval, so training machines need only this package and state."""
