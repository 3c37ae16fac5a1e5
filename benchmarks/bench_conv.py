"""Time conv2d and max_pool2d against PyTorch (when installed) on typical CNN shapes.

    python benchmarks/bench_conv.py [--rounds 3] [--calls 5] [--dtype float32]

For each shape it times the forward pass (no graph recorded) and forward +
backward, for tinygrad_cnn and for PyTorch's CPU kernels with the same number of
threads, in one process. The blocks are interleaved (ours, torch, ours, ...)
over several rounds so that slow phases of a shared machine hit both sides, and
it pauses between blocks: BLAS threads keep spinning for a while after a call
and would slow down whichever library runs next.

Printed per row: median time per call, ratio ours/torch (lower is better for
us), the floating-point rate and its fraction of this machine's numpy matmul
rate (timed in the same rounds), the ceiling of any im2col convolution.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import tinygrad_cnn as tg
from tinygrad_cnn.conv import conv2d, max_pool2d

try:
    import torch
except ImportError:  # the comparison is optional
    torch = None

PAUSE = 0.2  # seconds between timed blocks


@dataclass
class Case:
    name: str
    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int] | None  # None for max-pool
    stride: int = 1
    padding: int = 0
    input_grad: bool = True  # a first layer's input (the data) needs no gradient

    def flops(self, out_shape: tuple[int, ...]) -> float:
        """Multiply-adds x 2 of the forward convolution."""
        if self.w_shape is None:
            return 0.0
        n, o, oh, ow = out_shape
        _, c, kh, kw = self.w_shape
        return 2.0 * n * o * oh * ow * c * kh * kw


CASES = [
    Case("LeNet conv1 64x1x28x28 -> 32, 3x3 p1", (64, 1, 28, 28), (32, 1, 3, 3), 1, 1, input_grad=False),
    Case("LeNet conv2 64x32x14x14 -> 64, 3x3 p1", (64, 32, 14, 14), (64, 32, 3, 3), 1, 1),
    Case("VGG 32x64x32x32 -> 128, 3x3 p1 s1", (32, 64, 32, 32), (128, 64, 3, 3), 1, 1),
    Case("VGG 32x64x32x32 -> 128, 3x3 p1 s2", (32, 64, 32, 32), (128, 64, 3, 3), 2, 1),
    Case("max-pool 2x2 on 64x32x28x28", (64, 32, 28, 28), None),
]


def time_block(fn: Callable[[], None], calls: int) -> list[float]:
    """Seconds per call of `calls` consecutive calls (after one untimed warm-up)."""
    fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


class MatmulReference:
    """numpy's matrix-product rate, the ceiling of any im2col convolution.

    Timed in every round of a case next to the convolutions, so that the rate
    and the convolution times come from the same machine conditions.
    """

    def __init__(self, dtype: np.dtype, size: int = 1024) -> None:
        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((size, size)).astype(dtype)
        self.b = rng.standard_normal((size, size)).astype(dtype)
        self.flops = 2.0 * size**3
        self.times: list[float] = []

    def measure(self, calls: int) -> None:
        time.sleep(PAUSE)
        self.times.extend(time_block(lambda: self.a @ self.b, calls))

    def rate(self) -> float:
        """GFLOP/s from the median time."""
        return self.flops / statistics.median(self.times) / 1e9


def ours(case: Case, x: np.ndarray, w: np.ndarray | None, gy: np.ndarray) -> dict[str, Callable[[], None]]:
    """Forward and forward+backward closures for tinygrad_cnn."""
    xt = tg.Tensor(x, requires_grad=case.input_grad)
    gyt = tg.Tensor(gy)
    if w is None:

        def op(inp):
            return max_pool2d(inp, 2)

        params = [xt]
    else:
        wt = tg.Tensor(w, requires_grad=True)

        def op(inp):
            return conv2d(inp, wt, stride=case.stride, padding=case.padding)

        params = [xt, wt]

    def forward() -> None:
        with tg.no_grad():
            op(xt)

    def forward_backward() -> None:
        for p in params:
            p.grad = None
        op(xt).backward(gyt)

    return {"forward": forward, "forward+backward": forward_backward}


def theirs(case: Case, x: np.ndarray, w: np.ndarray | None, gy: np.ndarray) -> dict[str, Callable[[], None]]:
    """The same closures for PyTorch."""
    functional = torch.nn.functional
    xt = torch.tensor(x, requires_grad=case.input_grad)
    gyt = torch.tensor(gy)
    if w is None:

        def op(inp):
            return functional.max_pool2d(inp, 2)

        params = [xt]
    else:
        wt = torch.tensor(w, requires_grad=True)

        def op(inp):
            return functional.conv2d(inp, wt, stride=case.stride, padding=case.padding)

        params = [xt, wt]

    def forward() -> None:
        with torch.no_grad():
            op(xt)

    def forward_backward() -> None:
        for p in params:
            p.grad = None
        op(xt).backward(gyt)

    return {"forward": forward, "forward+backward": forward_backward}


def run_case(case: Case, dtype: np.dtype, rounds: int, calls: int) -> list[dict]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(case.x_shape).astype(dtype)
    w = None if case.w_shape is None else (rng.standard_normal(case.w_shape) * 0.1).astype(dtype)
    with tg.no_grad():
        if w is None:
            out_shape = max_pool2d(tg.Tensor(x), 2).shape
        else:
            out_shape = conv2d(tg.Tensor(x), tg.Tensor(w), stride=case.stride, padding=case.padding).shape
    gy = rng.standard_normal(out_shape).astype(dtype)

    libraries = {"ours": ours(case, x, w, gy)}
    if torch is not None:
        libraries["torch"] = theirs(case, x, w, gy)
    reference = MatmulReference(dtype)
    samples: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        reference.measure(calls)
        for mode in ("forward", "forward+backward"):
            for library, closures in libraries.items():
                time.sleep(PAUSE)
                samples.setdefault((library, mode), []).extend(time_block(closures[mode], calls))

    forward_flops = case.flops(out_shape)
    rows = []
    for mode in ("forward", "forward+backward"):
        # Backward costs two more products of the forward's size (input and
        # weight gradients), or one when the input needs no gradient.
        passes = 1 if mode == "forward" else (3 if case.input_grad else 2)
        row = {"case": case.name, "mode": mode, "flops": forward_flops * passes, "matmul rate": reference.rate()}
        for library in libraries:
            row[library] = statistics.median(samples[(library, mode)])
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--calls", type=int, default=5, help="timed calls per block (default 5)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    dtype = np.dtype(args.dtype)
    tg.keep_freed_memory()  # as the training command does: no page faults on reused arrays

    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if torch is not None:
        torch.set_num_threads(threads)
    print(f"dtype {dtype}, {threads} threads, numpy {np.__version__}"
          + (f", torch {torch.__version__}" if torch is not None else " (torch not installed: no comparison)"))

    header = f"{'case':40s} {'mode':17s} {'ours ms':>9s}"
    if torch is not None:
        header += f" {'torch ms':>9s} {'ours/torch':>10s}"
    header += f" {'GFLOP/s':>8s} {'matmul GFLOP/s':>14s} {'of matmul':>9s}"
    print(header)
    print("-" * len(header))
    for case in CASES:
        for row in run_case(case, dtype, args.rounds, args.calls):
            line = f"{row['case']:40s} {row['mode']:17s} {row['ours'] * 1e3:9.2f}"
            if torch is not None:
                line += f" {row['torch'] * 1e3:9.2f} {row['ours'] / row['torch']:10.2f}"
            if row["flops"]:
                gflops = row["flops"] / row["ours"] / 1e9
                rate = row["matmul rate"]
                line += f" {gflops:8.1f} {rate:14.0f} {gflops / rate:9.0%}"
            print(line, flush=True)
    print("\nmatmul GFLOP/s: numpy float 1024x1024 products timed in the same rounds as each case")


if __name__ == "__main__":
    main()
