"""Where the time of a LeNet training step goes, op by op, ours beside PyTorch's.

    python benchmarks/profile_step.py [--dtype float32 float64] [--steps 30] [--chain]

Our side: every Function's forward and backward is timed while the step runs
(exclusive time: an op's backward that applies other ops, as Conv2d's does,
is charged only for its own part). What no op accounts for is "engine and
Python": recording, the backward loop, modules, the SGD update. Timing costs a
little, so the total is somewhat above the plain step's time. The step is the
one of bench_summary.py (LeNet, batch 64, plain SGD on `.data`).

PyTorch's side (when installed): its own profiler, self CPU time per aten op.

--chain adds the 100,000-op chain `h = h * 1.0`: its forward and backward, and
the forward again with Python's cycle collector switched off, which shows the
collector's share (it walks the growing graph while the forward records it).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))
import bench_summary  # noqa: E402

from tinygrad_cnn.function import Function  # noqa: E402


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


class OpTimer:
    """Exclusive time per `Op.forward` / `Op.backward`, summed over the timed steps."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.children: list[float] = []  # per running timed call: the time of the calls inside it
        self.originals: list[tuple[type, str, Any]] = []

    def _timed(self, key: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.children.append(0.0)
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - start
                self.seconds[key] += elapsed - self.children.pop()
                if self.children:
                    self.children[-1] += elapsed

        return timed

    def install(self) -> None:
        for cls in set(_subclasses(Function)):
            for name in ("forward", "backward"):
                raw = cls.__dict__.get(name)
                if raw is None:
                    continue
                self.originals.append((cls, name, raw))
                key = f"{cls.__name__}.{name}"
                if isinstance(raw, staticmethod):
                    setattr(cls, name, staticmethod(self._timed(key, raw.__func__)))
                elif isinstance(raw, np.ufunc):  # add, sub, mul: the ufunc is the forward
                    setattr(cls, name, staticmethod(self._timed(key, raw)))
                else:
                    setattr(cls, name, self._timed(key, raw))

    def remove(self) -> None:
        for cls, name, raw in self.originals:
            setattr(cls, name, raw)
        self.originals.clear()


def profile_ours(dtype: np.dtype, steps: int) -> tuple[dict[str, float], float]:
    """Milliseconds per step for each op, and the plain step's median time (untimed ops)."""
    step, _ = bench_summary.our_lenet_step(dtype)
    plain_ms = median_step_ms(step, steps)
    timer = OpTimer()
    timer.install()
    try:
        totals = []
        for _ in range(steps):
            start = time.perf_counter()
            step()
            totals.append(time.perf_counter() - start)
    finally:
        timer.remove()
    per_op = {key: seconds / steps * 1e3 for key, seconds in timer.seconds.items()}
    per_op["engine and Python"] = sum(totals) / steps * 1e3 - sum(per_op.values())
    return per_op, plain_ms


def median_step_ms(step: Callable[[], None], steps: int) -> float:
    """The plain step's median time (ms), after a few steps of warming up."""
    for _ in range(5):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def profile_torch(torch: Any, dtype: np.dtype, steps: int) -> tuple[dict[str, float], float]:
    step = bench_summary.torch_lenet_step(torch, dtype, None)
    plain_ms = median_step_ms(step, steps)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    per_op = {e.key: e.self_cpu_time_total / steps / 1e3 for e in prof.key_averages()}
    return per_op, plain_ms


def print_table(title: str, per_op: dict[str, float], plain_ms: float, rows: int = 14) -> None:
    print(f"{title}: plain step {plain_ms:.1f} ms (median); time per step by op while profiled")
    ranked = sorted(per_op.items(), key=lambda item: -item[1])
    for key, ms in ranked[:rows]:
        print(f"  {ms:7.2f} ms  {key}")
    rest = sum(ms for _, ms in ranked[rows:])
    print(f"  {rest:7.2f} ms  (the other {max(len(ranked) - rows, 0)} entries)")
    print(f"  {sum(per_op.values()):7.2f} ms  in all")
    print()


def chain_times(length: int = bench_summary.LONG_CHAIN_OPS) -> None:
    import tinygrad_cnn as tg

    def forward() -> tuple[tg.Tensor, float]:
        h = tg.Tensor(np.ones(4, dtype=np.float32), requires_grad=True)
        start = time.perf_counter()
        for _ in range(length):
            h = h * 1.0
        return h, time.perf_counter() - start

    for collector in ("on", "off"):
        fwd, bwd = [], []
        for _ in range(3):
            if collector == "off":
                gc.disable()
            try:
                h, seconds = forward()
            finally:
                gc.enable()
            fwd.append(seconds)
            start = time.perf_counter()
            h.sum().backward()
            bwd.append(time.perf_counter() - start)
            del h
            gc.collect()
        print(f"{length:,}-op chain, cycle collector {collector} during the forward: "
              f"forward {min(fwd) * 1e3:.0f} ms, backward {min(bwd) * 1e3:.0f} ms (fastest of 3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", nargs="+", default=["float32", "float64"])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--chain", action="store_true", help="also time the 100,000-op chain")
    args = parser.parse_args()
    torch = bench_summary._import_torch()
    for name in args.dtype:
        dtype = np.dtype(name)
        print_table(f"ours, {name}", *profile_ours(dtype, args.steps))
        if torch is not None:
            time.sleep(bench_summary.PAUSE)
            print_table(f"PyTorch {torch.__version__}, {name}", *profile_torch(torch, dtype, args.steps))
    if args.chain:
        chain_times()


if __name__ == "__main__":
    main()
