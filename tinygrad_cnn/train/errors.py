"""The errors of the training command."""

from __future__ import annotations


class TrainingError(Exception):
    """A problem with what the user asked for: a bad option, missing data, a
    checkpoint that does not fit. The command line prints it as one line."""


class DivergenceError(Exception):
    """Training stopped because the loss or a parameter is no longer a finite number.

    epoch and step (1-based, the batch within the epoch) say where; the
    message says what became nan or inf and suggests a lower learning rate.
    The command line prints it as one line and exits with status 3.
    """

    def __init__(self, message: str, epoch: int | None = None, step: int | None = None) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.step = step


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the run. checkpoint: the path `--resume` can continue from
    (the last one this run wrote, or the one it resumed from), or None if there is none."""

    def __init__(self, checkpoint: str | None) -> None:
        super().__init__(checkpoint)
        self.checkpoint = checkpoint
