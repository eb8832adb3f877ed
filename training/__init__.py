"""Training: `python -m training.data` (dataset building, in the `dataset` wing), `training.prepare_base`,
`training.sft` with its preflight, guards and trainer, and `training.gpu_smoke` (its parts in `smoke`).
Imports state, and nodes and prompts for the data-quality gate (nodes.gate, which imports only prompts);
never graph or eval."""
