"""The progress bar drawn during an epoch."""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    """A progress bar for one epoch: tqdm when installed, else a plain text line.

    Shows images done, running loss and accuracy, and images per second.
    """

    def __init__(self, total: int, description: str, stream: Any = None) -> None:
        self.total = total
        self.description = description
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.start = time.perf_counter()
        self.last_draw = 0.0
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, desc=description, unit="img", file=self.stream, leave=True,
                            dynamic_ncols=True)

    def update(self, n: int, loss: float, accuracy: float) -> None:
        self.done += n
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
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(
            f"\r{self.description} [{bar}] {self.done}/{self.total} "
            f"loss {loss:.4f} acc {accuracy:.4f} {speed:,.0f} img/s"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        else:
            self.stream.write("\n")
            self.stream.flush()
