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


# --- the automatic settings: applied by the first backward, results unchanged --

_TRAINING_SCRIPT = """
import hashlib, resource, sys
import numpy as np
import tinygrad_cnn as tg
from tinygrad_cnn import functional as F, nn

if sys.argv[1] == "call-false":
    tg.keep_freed_memory(False)
tg.manual_seed(0)
model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 3))
rng = np.random.default_rng(0)
images, labels = rng.standard_normal((8, 1, 8, 8)).astype(np.float32), rng.integers(0, 3, 8)
kept_before = tg.memory.freed_memory_kept()
for _ in range(3):
    loss = F.cross_entropy(model(tg.Tensor(images)), tg.Tensor(labels))
    model.zero_grad()
    loss.backward()
    for p in model.parameters():
        p.data -= 0.1 * p.grad.data

def allocate():
    a = np.ones(1_500_000, dtype=np.float32)
    b = np.ones(800_000, dtype=np.float64)
    c = a[:800_000] * b
    del a, b, c

allocate()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    allocate()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
digest = hashlib.sha256(b"".join(p.data.tobytes() for p in model.parameters())).hexdigest()
print(kept_before, tg.memory.freed_memory_kept(), faults, digest)
"""


def _run_training(mode: str) -> tuple[bool, bool, int, str]:
    import os
    import subprocess

    env = dict(os.environ)
    env.pop("TINYGRAD_CNN_KEEP_FREED_MEMORY", None)
    if mode == "env-0":
        env["TINYGRAD_CNN_KEEP_FREED_MEMORY"] = "0"
    result = subprocess.run([sys.executable, "-c", _TRAINING_SCRIPT, mode], env=env, capture_output=True,
                            text=True, check=True)
    kept_before, kept_after, faults, digest = result.stdout.split()
    return kept_before == "True", kept_after == "True", int(faults), digest


@linux_glibc
def test_first_backward_keeps_freed_memory_and_results_do_not_change():
    automatic = _run_training("default")
    by_env = _run_training("env-0")
    by_call = _run_training("call-false")
    # Not at import: the first backward applies the settings...
    assert automatic[:2] == (False, True)
    # ...after which freed blocks are reused without page faults.
    assert automatic[2] < 200
    # Both ways of opting out leave the allocator alone.
    assert by_env[:2] == (False, False)
    assert by_call[:2] == (False, False)
    # The parameters after three steps are bit for bit the same either way.
    assert automatic[3] == by_env[3] == by_call[3]
