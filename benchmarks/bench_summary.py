"""The speed table in one run: ours against PyTorch CPU, interleaved in one process.

    python benchmarks/bench_summary.py [--runs 3] [--epoch]

Every workload is written the way the README teaches it, with no set-up call
of any kind (no `keep_freed_memory()`, no optimizer tricks):

1. LeNet training step, batch 64, float32 and float64: conv 1->32, ReLU,
   max-pool, conv 32->64, ReLU, max-pool, linear 3136->128, ReLU, linear
   128->10, cross-entropy, then plain SGD on `.data` (p.data -= lr * p.grad).
2. A 200-op chain of tiny ops (adds and multiplies on 4 numbers), forward +
   backward, per node.
3. A 100,000-op chain `h = h * 1.0`, forward (recording) and backward.
4. A wide graph: 16,000 products `x * x` of one tensor, summed pairwise (a
   tree), forward + backward.
5. Peak memory of the LeNet step: the growth of the peak resident size of a
   fresh process that does only that (ours, then PyTorch's), after its set-up.
6. With --epoch: one Fashion-MNIST epoch of the default model with the
   training command's settings (Adam, lr 0.002, batch 128), ours and PyTorch's.

Each run times ours and PyTorch alternately (blocks, with a pause between
them: BLAS threads of one library keep spinning after a call and slow the
other). A block's time is its fastest call, the least disturbed by other
programs on a shared machine; a run's time is the median over its blocks.
One ratio per run, ours / PyTorch's; with several runs the table shows the
median ratio and the range (min-max) over the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAUSE = 0.3  # seconds between timed blocks
THREADS = 2
BATCH = 64
LR = 0.01

LONG_CHAIN_OPS = 100_000
WIDE_PRODUCTS = 16_000


def _import_torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(THREADS)
    return torch


# ---------------------------------------------------------------------------
# The LeNet step, plain loop
# ---------------------------------------------------------------------------


def lenet(nn: Any) -> Any:
    """The LeNet of the README, from either library's `nn` (the names are the same)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def lenet_batch(dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.standard_normal((BATCH, 1, 28, 28)).astype(dtype)
    labels = rng.integers(0, 10, BATCH)
    return images, labels


def our_lenet_step(dtype: np.dtype) -> tuple[Callable[[], None], dict[str, np.ndarray]]:
    import tinygrad_cnn as tg
    from tinygrad_cnn import functional as F
    from tinygrad_cnn import nn

    tg.manual_seed(0)
    model = lenet(nn).to(dtype)
    params = list(model.parameters())
    images, labels = lenet_batch(dtype)

    def step() -> None:
        loss = F.cross_entropy(model(tg.Tensor(images)), tg.Tensor(labels))
        model.zero_grad()
        loss.backward()
        for p in params:
            p.data -= LR * p.grad.data

    return step, {name: p.data for name, p in model.named_parameters()}


def torch_lenet_step(torch, dtype: np.dtype, weights: dict[str, np.ndarray] | None) -> Callable[[], None]:
    nn = torch.nn
    torch.manual_seed(0)
    net = lenet(nn).to(torch.float64 if dtype == np.float64 else torch.float32)
    if weights is not None:  # the same starting weights as ours
        with torch.no_grad():
            for name, p in net.named_parameters():
                p.copy_(torch.from_numpy(weights[name]))
    params = list(net.parameters())
    images, labels = lenet_batch(dtype)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)

    def step() -> None:
        loss = nn.functional.cross_entropy(net(x), y)
        net.zero_grad()
        loss.backward()
        for p in params:
            p.data -= LR * p.grad.data

    return step


# ---------------------------------------------------------------------------
# Graph-building workloads
# ---------------------------------------------------------------------------


def ours_long_chain() -> None:
    import tinygrad_cnn as tg

    h = tg.Tensor(np.ones(4, dtype=np.float32), requires_grad=True)
    x = h
    for _ in range(LONG_CHAIN_OPS):
        h = h * 1.0
    h.sum().backward()
    assert x.grad is not None


def torch_long_chain(torch) -> None:
    h = torch.ones(4, requires_grad=True)
    x = h
    for _ in range(LONG_CHAIN_OPS):
        h = h * 1.0
    h.sum().backward()
    assert x.grad is not None


def tree_sum(terms: list) -> object:
    """Add neighbours pairwise until one term is left (depth log2 of the count)."""
    while len(terms) > 1:
        pairs = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            pairs.append(terms[-1])
        terms = pairs
    return terms[0]


def ours_wide_graph() -> None:
    import tinygrad_cnn as tg

    x = tg.Tensor(np.linspace(-1, 1, 4, dtype=np.float32), requires_grad=True)
    tree_sum([x * x for _ in range(WIDE_PRODUCTS)]).sum().backward()
    assert x.grad is not None


def torch_wide_graph(torch) -> None:
    x = torch.linspace(-1, 1, 4, requires_grad=True)
    tree_sum([x * x for _ in range(WIDE_PRODUCTS)]).sum().backward()
    assert x.grad is not None


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


def block_time(fn: Callable[[], None], calls: int) -> float:
    """The fastest of `calls` calls: the one least disturbed by other programs."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    time.sleep(PAUSE)
    return min(times)


def interleaved(ours: Callable[[], None], theirs: Callable[[], None] | None, rounds: int,
                calls: int) -> tuple[float, float | None]:
    """Median over `rounds` alternating blocks of each block's time (seconds)."""
    ours()  # warm up: first calls allocate and load kernels
    if theirs is not None:
        theirs()
    time.sleep(PAUSE)
    our_times, their_times = [], []
    for r in range(rounds):
        # The order alternates, so neither always runs right after the other.
        order = [(ours, our_times), (theirs, their_times)]
        if r % 2:
            order.reverse()
        for fn, times in order:
            if fn is not None:
                times.append(block_time(fn, calls))
    return statistics.median(our_times), statistics.median(their_times) if their_times else None


# ---------------------------------------------------------------------------
# Peak memory, in a fresh process per library
# ---------------------------------------------------------------------------


def _status_mb(field: str) -> float:
    """A size from /proc/self/status (VmRSS: resident now, VmHWM: peak resident) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_child(library: str, dtype_name: str, steps: int) -> None:
    """Run in a subprocess: set up, then `steps` LeNet steps; print the peak RSS growth (MiB)."""
    dtype = np.dtype(dtype_name)
    if library == "ours":
        step, _ = our_lenet_step(dtype)
    else:
        torch = _import_torch()
        step = torch_lenet_step(torch, dtype, None)
    # getrusage's ru_maxrss would not do: a child can inherit its parent's
    # peak across exec. VmHWM is this process's own peak; writing 5 to
    # clear_refs resets it to the current size, so it measures the steps only.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_mb("VmRSS")
    for _ in range(steps):
        step()
    print(json.dumps({"growth_mb": _status_mb("VmHWM") - before}))


def peak_growth_mb(library: str, dtype_name: str, steps: int = 5) -> float:
    command = [sys.executable, __file__, "--memory-child", library, dtype_name, str(steps)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])["growth_mb"]


# ---------------------------------------------------------------------------
# One Fashion-MNIST epoch
# ---------------------------------------------------------------------------


def our_epoch_seconds() -> float:
    import tinygrad_cnn as tg
    from tinygrad_cnn import functional as F
    from tinygrad_cnn import optim
    from tinygrad_cnn.data import DataLoader, load_fashion_mnist, normalize, to_float_images
    from tinygrad_cnn.models import build_model

    x_train, y_train, _, _ = load_fashion_mnist()
    images = normalize(to_float_images(x_train), 0.2860, 0.3530)
    tg.manual_seed(0)
    model = build_model("lenet")
    optimizer = optim.Adam(model.parameters(), lr=2e-3)
    start = time.perf_counter()
    for batch, labels in DataLoader(images, y_train, batch_size=128, shuffle=True, seed=0):
        loss = F.cross_entropy(model(tg.Tensor(batch)), tg.Tensor(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def torch_epoch_seconds(torch) -> float:
    from tinygrad_cnn.data import load_fashion_mnist, normalize, to_float_images

    x_train, y_train, _, _ = load_fashion_mnist()
    images = torch.from_numpy(normalize(to_float_images(x_train), 0.2860, 0.3530))
    labels = torch.from_numpy(y_train.astype(np.int64))
    nn = torch.nn
    torch.manual_seed(0)
    net = lenet(nn)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
    order = torch.randperm(len(images))
    start = time.perf_counter()
    for first in range(0, len(images), 128):
        index = order[first : first + 128]
        loss = nn.functional.cross_entropy(net(images[index]), labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------


def ratio_cell(ratios: list[float]) -> str:
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}"
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="independent runs (one ratio each)")
    parser.add_argument("--epoch", action="store_true", help="also time one Fashion-MNIST epoch (~1.5 min)")
    parser.add_argument("--memory-child", nargs=3, metavar=("LIBRARY", "DTYPE", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        library, dtype_name, steps = args.memory_child
        memory_child(library, dtype_name, int(steps))
        return

    torch = _import_torch()
    if torch is None:
        print("PyTorch is not installed (.venv/bin/pip install torch==2.13.0): only our times are shown")
    steps = {}
    for dtype_name in ("float32", "float64"):
        dtype = np.dtype(dtype_name)
        ours, weights = our_lenet_step(dtype)
        theirs = torch_lenet_step(torch, dtype, weights) if torch else None
        steps[dtype_name] = (ours, theirs)

    # The 200-op chain is bench_engine's own workload (imported here, after the
    # memory child has returned: bench_engine imports torch when it can).
    from bench_engine import CHAIN_OPS, ours_small_chain, torch_small_chain

    workloads: list[tuple[str, str, float, Callable[[], None], Callable[[], None] | None, int, int]] = [
        # label, unit, scale to that unit, ours, theirs, rounds, calls per block
        (f"LeNet training step, batch {BATCH}, float32", "ms", 1e3, *steps["float32"], 7, 5),
        (f"LeNet training step, batch {BATCH}, float64", "ms", 1e3, *steps["float64"], 7, 5),
        (f"{CHAIN_OPS}-op chain of tiny ops, fwd + bwd, per node", "us", 1e6 / CHAIN_OPS,
         ours_small_chain, torch_small_chain if torch else None, 9, 20),
        (f"{LONG_CHAIN_OPS:,}-op chain h = h * 1.0, fwd + bwd", "s", 1.0,
         ours_long_chain, (lambda: torch_long_chain(torch)) if torch else None, 3, 1),
        (f"{WIDE_PRODUCTS:,} products tree-summed, fwd + bwd", "ms", 1e3,
         ours_wide_graph, (lambda: torch_wide_graph(torch)) if torch else None, 3, 2),
    ]
    results: dict[str, dict[str, list[float]]] = {}
    for run in range(args.runs):
        for label, _, scale, ours, theirs, rounds, calls in workloads:
            our_time, their_time = interleaved(ours, theirs, rounds, calls)
            row = results.setdefault(label, {"ours": [], "torch": [], "ratio": []})
            row["ours"].append(our_time * scale)
            if their_time is not None:
                row["torch"].append(their_time * scale)
                row["ratio"].append(our_time / their_time)
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr, flush=True)

    version = torch.__version__ if torch else "-"
    print(f"numpy {np.__version__}, torch {version}, {THREADS} threads, {os.cpu_count()} cores; "
          f"{args.runs} runs: median (min-max over runs)")
    print()
    print("| workload | ours | PyTorch | ours / PyTorch |")
    print("|---|---|---|---|")
    for label, unit, *_ in workloads:
        row = results[label]
        ours_cell = f"{statistics.median(row['ours']):.3g} {unit}"
        their_cell = f"{statistics.median(row['torch']):.3g} {unit}" if row["torch"] else "-"
        ratio = ratio_cell(row["ratio"]) if row["ratio"] else "-"
        print(f"| {label} | {ours_cell} | {their_cell} | {ratio} |")
    for dtype_name in ("float32", "float64"):
        ours_mb = peak_growth_mb("ours", dtype_name)
        their_mb = peak_growth_mb("torch", dtype_name) if torch else None
        their_cell = f"{their_mb:.0f} MiB" if their_mb is not None else "-"
        ratio = f"{ours_mb / their_mb:.2f}" if their_mb else "-"
        print(f"| peak memory growth of a LeNet step process, {dtype_name} | {ours_mb:.0f} MiB | {their_cell} "
              f"| {ratio} |")
    if args.epoch:
        ours_s = our_epoch_seconds()
        time.sleep(PAUSE)
        their_s = torch_epoch_seconds(torch) if torch else None
        their_cell = f"{their_s:.1f} s" if their_s is not None else "-"
        ratio = f"{ours_s / their_s:.2f}" if their_s else "-"
        print(f"| Fashion-MNIST epoch, lenet, Adam, batch 128 (60,000 images) | {ours_s:.1f} s "
              f"({60000 / ours_s:,.0f} img/s) | {their_cell} | {ratio} |")


if __name__ == "__main__":
    main()
