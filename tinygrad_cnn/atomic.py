"""Writing a file so that readers see the old version or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any


def atomic_write(path: str, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Call write(file) on a temporary file next to `path`, then rename it to `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the rename makes it visible
        # mkstemp makes the file private (mode 0600); give it the usual permissions.
        os.chmod(tmp_path, 0o666 & ~current_umask())
        os.replace(tmp_path, path)
    except BaseException:
        # Also on KeyboardInterrupt: never leave a half-written temporary behind.
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


def current_umask() -> int:
    # The only way to read the umask is to set it, then put it back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
