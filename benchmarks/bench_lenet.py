"""Time a whole LeNet training step against PyTorch CPU (when installed).

    python benchmarks/bench_lenet.py [--rounds 5] [--steps 5] [--batch 64 256] [--dtype float32 float64]

The step: conv 1->32 3x3 pad 1, ReLU, max-pool 2, conv 32->64 3x3 pad 1, ReLU,
max-pool 2, linear 3136->128, ReLU, linear 128->10, cross-entropy, SGD step.
Both libraries start from the same weights and see the same batch, and run
with the same number of threads, in one process. Blocks of steps alternate
(ours, torch, ours, ...) with a pause between them: BLAS threads keep spinning
after a call and would slow down whichever library runs next.

As in any program, the first backward applies `tg.keep_freed_memory()` (glibc
keeps freed blocks for reuse; in this one process that applies to both
libraries). Printed per row: median milliseconds per step for each library, the ratio
ours/torch (lower is better for us), and the peak memory of our step (numpy
allocations, traced with tracemalloc in a separate, untimed step).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import tinygrad_cnn as tg
from tinygrad_cnn import functional as F
from tinygrad_cnn.models import build_model

try:
    import torch
except ImportError:  # the comparison is optional
    torch = None

PAUSE = 0.3  # seconds between timed blocks
THREADS = 2


def our_step_function(batch: int, dtype: np.dtype, rng: np.random.Generator):
    tg.manual_seed(0)
    model = build_model("lenet").to(dtype)
    optimizer = tg.optim.SGD(model.parameters(), lr=0.01)
    images = tg.Tensor(rng.random((batch, 1, 28, 28)).astype(dtype))
    labels = tg.Tensor(rng.integers(0, 10, batch))

    def step() -> None:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()

    return model, images, labels, step


def torch_step_function(model: tg.nn.Module, images: tg.Tensor, labels: tg.Tensor, dtype: np.dtype):
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10),
    )
    net = net.to(torch.float64 if dtype == np.float64 else torch.float32)
    # The same starting weights as ours.
    ours = dict(model.named_parameters())
    names = {"0": "conv1", "3": "conv2", "7": "fc1", "9": "fc2"}
    with torch.no_grad():
        for name, parameter in net.named_parameters():
            index, kind = name.split(".")
            parameter.copy_(torch.from_numpy(ours[f"{names[index]}.{kind}"].data))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.from_numpy(images.data)
    y = torch.from_numpy(labels.data)

    def step() -> None:
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()

    return step


def time_block(step, steps: int) -> list[float]:
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    time.sleep(PAUSE)
    return times


def peak_memory_mb(step) -> float:
    tracemalloc.start()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="alternating blocks per library")
    parser.add_argument("--steps", type=int, default=5, help="training steps per block")
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--dtype", nargs="+", default=["float32", "float64"])
    args = parser.parse_args()
    if torch is not None:
        torch.set_num_threads(THREADS)
    rng = np.random.default_rng(0)

    print(f"LeNet training step, {THREADS} threads; torch: {torch.__version__ if torch else 'not installed'}")
    header = f"{'batch':>5} {'dtype':>8} {'ours ms':>9} {'torch ms':>9} {'ours/torch':>10} {'our peak MB':>12}"
    print(header)
    print("-" * len(header))
    for dtype_name in args.dtype:
        dtype = np.dtype(dtype_name)
        for batch in args.batch:
            model, images, labels, ours = our_step_function(batch, dtype, rng)
            theirs = torch_step_function(model, images, labels, dtype) if torch is not None else None
            ours()  # warm up both (first calls allocate and load kernels)
            if theirs is not None:
                theirs()
            our_times, their_times = [], []
            for _ in range(args.rounds):
                our_times += time_block(ours, args.steps)
                if theirs is not None:
                    their_times += time_block(theirs, args.steps)
            our_ms = 1000 * statistics.median(our_times)
            peak = peak_memory_mb(ours)
            if their_times:
                their_ms = 1000 * statistics.median(their_times)
                print(f"{batch:>5} {dtype_name:>8} {our_ms:>9.1f} {their_ms:>9.1f} {our_ms / their_ms:>10.2f} "
                      f"{peak:>12.1f}")
            else:
                print(f"{batch:>5} {dtype_name:>8} {our_ms:>9.1f} {'-':>9} {'-':>10} {peak:>12.1f}")


if __name__ == "__main__":
    main()
