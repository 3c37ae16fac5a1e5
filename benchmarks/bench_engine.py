"""Benchmark of the autograd engine's own overhead, against PyTorch autograd.

1. Per-node overhead: a chain of 200 ops (adds and multiplies alternating) on
   4-element float32 tensors, forward + backward. With tensors this small the
   arithmetic is negligible, so the time per node is the cost of the engine:
   making Tensors and Function nodes, the topological sort, the VJP calls.
2. A 100,000-op chain: the time of backward alone (the graph is built first).

Timings are medians over repeats, with ours and PyTorch's runs interleaved so
that both see the same machine load. The PyTorch columns are skipped when
PyTorch is not installed.

    python benchmarks/bench_engine.py            # the table
    python benchmarks/bench_engine.py --profile  # where the time goes in (1)
    python benchmarks/bench_engine.py --split    # (1) as forward and backward, with
        # Python's cycle collector on and off (our graph is Python objects that the
        # collector walks; PyTorch's is not)
    python benchmarks/bench_engine.py --baseline ../other-checkout
        # adds a column for the tinygrad_cnn of another checkout (an older
        # commit, say: `git worktree add ../before <commit>`), loaded in this
        # same process under another name and run interleaved with the others
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import tinygrad_cnn as tg

try:
    import torch
except ImportError:  # the PyTorch columns are optional
    torch = None

CHAIN_OPS = 200
LONG_CHAIN_OPS = 100_000


# ---------------------------------------------------------------------------
# The workloads, written the same way for both libraries
# ---------------------------------------------------------------------------


def small_chain(library: ModuleType) -> None:
    x = library.Tensor(np.ones(4, dtype=np.float32), requires_grad=True)
    shift = library.Tensor(np.full(4, 0.5, dtype=np.float32))
    scale = library.Tensor(np.full(4, 0.999, dtype=np.float32))
    y = x
    for _ in range(CHAIN_OPS // 2):
        y = y + shift
        y = y * scale
    y.backward(np.ones(4, dtype=np.float32))


def ours_small_chain() -> None:
    small_chain(tg)


def torch_small_chain() -> None:
    x = torch.ones(4, requires_grad=True)
    shift = torch.full((4,), 0.5)
    scale = torch.full((4,), 0.999)
    y = x
    for _ in range(CHAIN_OPS // 2):
        y = y + shift
        y = y * scale
    y.backward(torch.ones(4))


def long_chain(library: ModuleType) -> Callable[[], None]:
    """Build the graph; return the backward call to be timed."""
    x = library.Tensor(np.ones(4, dtype=np.float32), requires_grad=True)
    y = x
    for _ in range(LONG_CHAIN_OPS // 2):
        y = y + 0.5
        y = y * 0.999
    return lambda: y.backward(np.ones(4, dtype=np.float32))


def torch_long_chain() -> Callable[[], None]:
    x = torch.ones(4, requires_grad=True)
    y = x
    for _ in range(LONG_CHAIN_OPS // 2):
        y = y + 0.5
        y = y * 0.999
    return lambda: y.backward(torch.ones(4))


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


def seconds(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved_medians(contenders: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Run each contender once per round, `repeats` rounds; median of each.

    The order within a round alternates, so that neither library always runs
    right after the other (caches, allocator state and the cycle collector's
    counters carry over from one run to the next).
    """
    times: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for round_index in range(repeats):
        for name in names if round_index % 2 == 0 else reversed(names):
            times[name].append(contenders[name]())
    return {name: statistics.median(values) for name, values in times.items()}


def load_baseline(checkout: str) -> ModuleType:
    """The tinygrad_cnn package of another checkout, imported as `tinygrad_cnn_baseline`.

    The package imports itself with relative imports only, so a copy under
    another name runs beside this one in the same process.
    """
    source = Path(checkout).resolve() / "tinygrad_cnn"
    if not (source / "__init__.py").is_file():
        raise SystemExit(f"bench_engine: --baseline {checkout}: no tinygrad_cnn package there")
    folder = Path(tempfile.mkdtemp(prefix="bench_engine_"))
    shutil.copytree(source, folder / "tinygrad_cnn_baseline", ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, str(folder))
    return importlib.import_module("tinygrad_cnn_baseline")


def bench_per_node(repeats: int, baseline: ModuleType | None = None) -> dict[str, float]:
    """Microseconds per node (forward + backward) of the 200-op chain."""
    contenders = {"ours": lambda: seconds(ours_small_chain)}
    if baseline is not None:
        contenders["baseline"] = lambda: seconds(lambda: small_chain(baseline))
    if torch is not None:
        contenders["torch"] = lambda: seconds(torch_small_chain)
    for run in contenders.values():  # warm up
        for _ in range(5):
            run()
    medians = interleaved_medians(contenders, repeats)
    return {name: 1e6 * t / CHAIN_OPS for name, t in medians.items()}


def bench_long_chain(repeats: int, baseline: ModuleType | None = None) -> dict[str, float]:
    """Seconds for backward through the 100,000-op chain."""

    def timed_backward(build: Callable[[], Callable[[], None]]) -> Callable[[], float]:
        def run() -> float:
            backward = build()
            time.sleep(0.2)  # let the other library's threads settle
            return seconds(backward)

        return run

    contenders = {"ours": timed_backward(lambda: long_chain(tg))}
    if baseline is not None:
        contenders["baseline"] = timed_backward(lambda: long_chain(baseline))
    if torch is not None:
        contenders["torch"] = timed_backward(torch_long_chain)
    return interleaved_medians(contenders, repeats)


def print_table(per_node: dict[str, float], long_chain_result: dict[str, float]) -> None:
    rows = [
        (f"per node, {CHAIN_OPS}-op chain, fwd+bwd (us)", per_node),
        (f"backward of {LONG_CHAIN_OPS:,}-op chain (s)", long_chain_result),
    ]
    with_baseline = "baseline" in per_node
    header = f"{'benchmark':<44} {'ours':>10} {'torch':>10} {'ours/torch':>11}"
    if with_baseline:
        header += f" {'baseline':>10} {'base/torch':>11} {'ours/base':>10}"
    print(header)
    for label, result in rows:
        ours, theirs = result["ours"], result.get("torch")
        line = f"{label:<44} {ours:>10.3g} "
        line += f"{theirs:>10.3g} {ours / theirs:>10.2f}x" if theirs else f"{'-':>10} {'-':>11}"
        if with_baseline:
            base = result["baseline"]
            line += f" {base:>10.3g} " + (f"{base / theirs:>10.2f}x" if theirs else f"{'-':>11}")
            line += f" {ours / base:>9.2f}x"
        print(line)


def timed_chain(library: ModuleType | None) -> Callable[[], tuple[float, float]]:
    """The 200-op chain of `library` (None: PyTorch), timed as (forward, backward) seconds."""

    def run() -> tuple[float, float]:
        if library is None:
            x, shift, scale = torch.ones(4, requires_grad=True), torch.full((4,), 0.5), torch.full((4,), 0.999)
            seed = torch.ones(4)
        else:
            x = library.Tensor(np.ones(4, dtype=np.float32), requires_grad=True)
            shift = library.Tensor(np.full(4, 0.5, dtype=np.float32))
            scale = library.Tensor(np.full(4, 0.999, dtype=np.float32))
            seed = np.ones(4, dtype=np.float32)
        start = time.perf_counter()
        y = x
        for _ in range(CHAIN_OPS // 2):
            y = y + shift
            y = y * scale
        middle = time.perf_counter()
        y.backward(seed)
        return middle - start, time.perf_counter() - middle

    return run


def print_split(repeats: int, baseline: ModuleType | None) -> None:
    """Microseconds per node of the 200-op chain's forward and backward, interleaved,
    with the cycle collector on (as programs run) and off."""
    contenders = {"ours": timed_chain(tg)}
    if baseline is not None:
        contenders["baseline"] = timed_chain(baseline)
    if torch is not None:
        contenders["torch"] = timed_chain(None)
    print(f"{'per node (us)':<14} {'collector':>9} {'forward':>8} {'backward':>9} {'total':>7}")
    for collector in ("on", "off"):
        if collector == "off":
            gc.disable()
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
        names = list(contenders)
        for round_index in range(repeats):
            for name in names if round_index % 2 == 0 else reversed(names):
                times[name].append(contenders[name]())
        gc.enable()
        for name, values in times.items():
            forward = 1e6 * statistics.median(f for f, _ in values) / CHAIN_OPS
            backward = 1e6 * statistics.median(b for _, b in values) / CHAIN_OPS
            total = 1e6 * statistics.median(f + b for f, b in values) / CHAIN_OPS
            print(f"{name:<14} {collector:>9} {forward:>8.2f} {backward:>9.2f} {total:>7.2f}")


def profile_per_node(rounds: int) -> None:
    """cProfile of the 200-op chain: which functions take the time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(rounds):
        ours_small_chain()
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=51, help="rounds for the per-node benchmark")
    parser.add_argument("--long-repeats", type=int, default=3, help="rounds for the long-chain benchmark")
    parser.add_argument("--profile", action="store_true", help="profile the per-node benchmark instead")
    parser.add_argument("--split", action="store_true",
                        help="the per-node benchmark as forward and backward, collector on and off, instead")
    parser.add_argument("--baseline", metavar="CHECKOUT",
                        help="also time the tinygrad_cnn of another checkout, interleaved with the rest")
    args = parser.parse_args()

    if args.profile:
        profile_per_node(rounds=200)
        return
    if torch is not None:
        torch.set_num_threads(2)
        print(f"numpy {np.__version__}, torch {torch.__version__} (2 threads)")
    else:
        print(f"numpy {np.__version__}; PyTorch not installed, its columns are skipped")
    baseline = load_baseline(args.baseline) if args.baseline else None
    if args.split:
        print_split(max(args.repeats, 1001), baseline)
        return
    per_node = bench_per_node(args.repeats, baseline)
    long_chain_times = bench_long_chain(args.long_repeats, baseline)
    print_table(per_node, long_chain_times)


if __name__ == "__main__":
    main()
