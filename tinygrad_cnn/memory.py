"""Process memory: keeping freed blocks for reuse, and measuring the resident size.

A training step allocates and frees the same large arrays (activations,
gradients, im2col buffers) over and over. With glibc's default settings, free()
hands big blocks back to the operating system, and the next step's
allocation of the same size maps fresh pages: every page is then zero-filled
by the kernel on first touch (a "minor page fault"). For a LeNet step on
Fashion-MNIST that is about 5,000 faults and a third of the step's time.

`keep_freed_memory()` tells glibc to keep freed blocks (up to 32 MiB each) in
the heap, where the next step reuses them. `release_free_memory()` gives the
free blocks back, e.g. once per epoch, so the resident size does not drift.
Both only act on Linux with glibc; elsewhere they do nothing.

The library applies `keep_freed_memory()` by itself at the start of the
first backward pass of the process (the first sign of training work), so a
plain training loop is fast without knowing about any of this. Why there and
not at import: a program that only imports the library, or only evaluates,
keeps glibc's own settings. The allocator settings change where memory comes
from, never the numbers computed. To keep glibc's settings, set the
environment variable TINYGRAD_CNN_KEEP_FREED_MEMORY=0 before starting Python,
or call `keep_freed_memory(False)` before the first backward.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys

# mallopt parameters (from glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# The largest allocation glibc serves from the heap instead of a fresh mapping
# (its maximum on 64-bit systems), and how much free memory it may keep.
_HEAP_BLOCK_LIMIT = 32 * 2**20
_KEEP_FREE_LIMIT = 2**30
# glibc's own starting values of both thresholds (128 KiB), for keep_freed_memory(False).
_GLIBC_DEFAULT_THRESHOLD = 128 * 2**10

# Set to 0 to stop the library from applying keep_freed_memory() by itself.
AUTOMATIC_ENV = "TINYGRAD_CNN_KEEP_FREED_MEMORY"


class _State:
    # Whether the first backward pass should still apply keep_freed_memory().
    automatic_pending = os.environ.get(AUTOMATIC_ENV, "1").strip() != "0"
    # Whether the settings are in effect in this process.
    applied = False


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt  # noqa: B018 - musl and others have no mallopt
        return libc
    except (OSError, AttributeError):
        return None


def keep_freed_memory(enabled: bool = True) -> bool:
    """Keep freed blocks for reuse instead of returning them to the OS at once.

    Makes repeated training steps much faster (no page faults on reused
    arrays); the cost is that freed memory stays in the process until
    `release_free_memory()` or exit. The first backward pass calls it by
    itself (see the module's docstring), so there is no need to call it.
    Returns True if it took effect.

    `keep_freed_memory(False)` opts out: the first backward leaves the
    allocator alone. If the settings were already applied, both thresholds go
    back to glibc's starting values (128 KiB; glibc then no longer adjusts
    them by itself, as it does when nobody sets them). Returns True if the
    allocator was reset.
    """
    _State.automatic_pending = False
    libc = _glibc()
    if libc is None or (not enabled and not _State.applied):
        return False
    mmap_threshold = _HEAP_BLOCK_LIMIT if enabled else _GLIBC_DEFAULT_THRESHOLD
    trim_threshold = _KEEP_FREE_LIMIT if enabled else _GLIBC_DEFAULT_THRESHOLD
    mmap_ok = libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1
    trim_ok = libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1
    _State.applied = enabled and mmap_ok and trim_ok
    return mmap_ok and trim_ok


def freed_memory_kept() -> bool:
    """Whether `keep_freed_memory()` is in effect in this process (by a call or automatically)."""
    return _State.applied


def before_backward() -> None:
    """Called by every backward pass: the first one applies `keep_freed_memory()`,
    unless the user opted out. Costs one attribute test afterwards."""
    if _State.automatic_pending:
        keep_freed_memory()


def release_free_memory() -> None:
    """Give memory that has been freed back to the operating system (glibc on Linux only).

    The C allocator keeps freed blocks to reuse them, so without this the
    resident size of the process drifts from epoch to epoch although the
    memory in use stays the same. malloc_trim(0) returns the free blocks;
    once per epoch it costs a few milliseconds. Python objects in reference
    cycles wait for the garbage collector: they are collected first.
    """
    gc.collect()  # objects in reference cycles (a matplotlib figure) are freed only by the collector
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def resident_memory_mb() -> float:
    """The resident set size of this process in MiB (current, not peak, where the OS tells it)."""
    try:
        with open("/proc/self/statm") as f:
            resident_pages = int(f.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError, AttributeError):
        import resource  # not on Windows; peak rather than current size

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10
