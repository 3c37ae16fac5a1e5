"""What the `tinygrad-cnn` commands share: one-line usage errors, exit statuses, plural words.

Used by cli.py (train, evaluate) and viz/command.py (graph).
"""

from __future__ import annotations

import argparse
from typing import NoReturn

__all__ = ["BROKEN_PIPE", "DIVERGED", "INTERRUPTED", "OneLineParser", "USAGE_ERROR", "UsageError", "plural"]

USAGE_ERROR = 2
DIVERGED = 3
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a program stopped by Ctrl-C
BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of the output went away (e.g. `| head`)


class UsageError(Exception):
    """A mistake in the options; the command prints it as one line and exits with USAGE_ERROR."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistake raises UsageError instead of printing the usage and exiting,
    so the command prints one line naming the option."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def plural(count: int, word: str) -> str:
    """'1 epoch', '2 epochs', '0 epochs', '60,000 images'."""
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"
