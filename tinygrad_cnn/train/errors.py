"""The errors of the training command."""

from __future__ import annotations


class TrainingError(Exception):
    """A problem with what the user asked for: a bad option, missing data, a
    checkpoint that does not fit. The command line prints it as one line."""
