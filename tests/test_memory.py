import resource
import sys

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn.memory import release_free_memory, resident_memory_mb

linux_glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or "glibc" not in " ".join(__import__("platform").libc_ver()),
    reason="the allocator settings are glibc's",
)


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


@linux_glibc
def test_freed_arrays_are_reused_without_page_faults():
    assert tg.keep_freed_memory() is True

    def step() -> None:
        # Arrays of training-step sizes (a few MB), allocated, touched and freed.
        a = np.ones(1_500_000, dtype=np.float32)
        b = np.ones(800_000, dtype=np.float64)
        c = a[:800_000] * b
        del a, b, c

    step()  # the first time the heap grows: those pages fault once
    before = _minor_faults()
    for _ in range(5):
        step()
    # About 3,000 pages are touched per step; reused blocks fault no more.
    assert _minor_faults() - before < 200


def test_release_and_resident_size_report_sensibly():
    release_free_memory()
    size = resident_memory_mb()
    assert 1 < size < 24 * 1024
