"""The parts of `training.gpu_smoke`: synthetic model and data (`data`), the launch plan (`plan`) and the
result table (`report`). May import training.errors and state.errors."""
