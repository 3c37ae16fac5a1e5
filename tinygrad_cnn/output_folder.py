"""The folder a command writes into: checked before any work, created when missing.

`tinygrad-cnn train --out DIR` and `tinygrad-cnn graph -o FILE` call
`check_output_folder` first, so that a path where no file can be created is
reported in one line before any data is loaded, an epoch trained or a graph
drawn. Missing folders are created only when the first file is written
(`create_output_folder`), so a mistake found in between leaves nothing behind.
"""

from __future__ import annotations

import os
import tempfile

__all__ = ["OutputFolderError", "check_output_folder", "create_output_folder"]


class OutputFolderError(ValueError):
    """No file can be created in the output folder; the message names the option and the path."""


def check_output_folder(folder: str, option: str, value: str | None = None) -> list[str]:
    """OutputFolderError unless files can be created in `folder` (once its missing folders are made).

    option, value: the command-line option and the value given to it (e.g. "-o"
        and "runs/x.svg"; value defaults to the folder), named in the error.
    Returns the folders that are missing, outermost first.

    The check creates and removes a probe file in the folder, or in its nearest
    existing parent when it is missing: `os.access` answers for the permission
    bits only, and is wrong for root, for read-only file systems and for
    special ones such as /sys.
    """
    given = f"{option} {folder if value is None else value}"
    if not folder:
        raise OutputFolderError(f"{option} must name a folder, got an empty string")
    missing = []
    existing = os.path.abspath(folder)
    while not os.path.exists(existing):
        missing.append(existing)
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise OutputFolderError(f"{given}: {existing} is a file, not a folder")
    try:
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".tinygrad-cnn-probe-")
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        what = "files" if not missing else "folders"
        raise OutputFolderError(f"{given}: cannot create {what} in {existing} ({_reason(error)})") from None
    return missing[::-1]


def create_output_folder(folder: str, option: str, value: str | None = None) -> list[str]:
    """Create `folder` and its missing parents (as `mkdir -p`); returns those created, outermost first."""
    missing = check_output_folder(folder, option, value)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        given = f"{option} {folder if value is None else value}"
        raise OutputFolderError(f"{given}: cannot create the folder {folder} ({_reason(error)})") from None
    return missing


def _reason(error: OSError) -> str:
    return error.strerror or str(error)
