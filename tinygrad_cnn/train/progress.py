"""The progress bar drawn during an epoch."""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import Any


class Progress:
    """A progress bar for one epoch: tqdm when installed, else a plain text line.

    Shows images done, running loss and accuracy, and images per second.
    The bar is redrawn in place only when the stream is a terminal; into a file
    or a pipe (a log) it writes nothing, since the per-epoch summary line that
    `train` prints says the same once. The text line fits the terminal's width.
    """

    def __init__(self, total: int, description: str, stream: Any = None) -> None:
        self.total = total
        self.description = description
        self.stream = stream if stream is not None else sys.stderr
        self.on_terminal = _is_terminal(self.stream)
        self.done = 0
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.bar = None
        if not self.on_terminal:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total, desc=description, unit="img", file=self.stream, leave=True, dynamic_ncols=True)

    def update(self, n: int, loss: float, accuracy: float) -> None:
        self.done += n
        if not self.on_terminal:
            return
        elapsed = time.perf_counter() - self.start
        speed = self.done / elapsed if elapsed > 0 else 0.0
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{accuracy:.4f}", refresh=False)
            return
        # The text line is redrawn in place (\r) at most 4 times a second.
        if elapsed - self.last_draw < 0.25 and self.done < self.total:
            return
        self.last_draw = elapsed
        self.stream.write("\r" + self.line(loss, accuracy, speed, _columns(self.stream)))
        self.stream.flush()

    def line(self, loss: float, accuracy: float, speed: float, columns: int) -> str:
        """The text line, at most columns - 1 characters (a full last column makes some terminals wrap)."""
        counts = f"{self.done}/{self.total} loss {loss:.4f} acc {accuracy:.4f} {speed:,.0f} img/s"
        room = columns - 1 - len(f"{self.description} [] {counts}")
        width = min(24, room)  # the bar shrinks first, then disappears, then the line is cut
        if width >= 5:
            filled = int(width * self.done / max(self.total, 1))
            text = f"{self.description} [{'#' * filled}{'.' * (width - filled)}] {counts}"
        else:
            text = f"{self.description} {counts}"
        return text[: max(columns - 1, 1)]

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.on_terminal:
            self.stream.write("\n")
            self.stream.flush()


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except (OSError, ValueError):  # a closed or detached stream
        return False


def _columns(stream: Any) -> int:
    """The width of the terminal the stream writes to (the terminal may be resized between epochs)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return shutil.get_terminal_size().columns
