"""Training's own failure: a run that diverged. (The one-line error types every command shares, InputError
among them, are in state/errors.py.)"""

from __future__ import annotations

from state.errors import RunFailed


class TrainingDiverged(RunFailed):
    """The loss or the weights became non-finite: the run stops and saves no final model."""
