"""Do the observers' hooks cost the backward pass anything while none is on?

The backward loop (backward.run_backward) tells its observers (anomaly mode,
the step-through page's recorder, `viz.record_backward`) what it does only
when there are any; otherwise it tests `if observers:` once per node and
wire. This compares, in one process, `run_backward` with the very same loop
with the hooks' lines taken out (both compiled the same way), alternating the
two at every iteration so that both see the same machine load:

1. backward alone through a chain of 2,000 tiny ops (adds and multiplies of
   4-element tensors): the engine's own overhead per node, where a hook would show;
2. forward + backward of a 200-op chain, the workload of bench_engine.py.

    python benchmarks/bench_recorder_off.py            # 400 / 2000 rounds
    python benchmarks/bench_recorder_off.py --quick    # fewer rounds

On an idle machine the two differ by less than the noise between two copies
of the same function (the A/A line), which is printed for comparison.
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import tinygrad_cnn as tg
from tinygrad_cnn import backward


def _compiled(source: str) -> Callable:
    namespace = dict(vars(backward))
    exec(source, namespace)
    return namespace["run_backward"]


def _without_hook(source: str) -> str:
    """run_backward's source with every line of the observers' hooks removed."""
    kept, skip_deeper_than = [], None
    for line in source.splitlines():
        indent = len(line) - len(line.lstrip())
        if skip_deeper_than is not None:
            if line.strip() and indent > skip_deeper_than:
                continue
            skip_deeper_than = None
        if line.strip() == "if observers:":
            skip_deeper_than = indent
            continue
        if line.strip() == "observers = start_observers(order, grads)":
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


SHIFT = tg.Tensor(np.full(4, 0.5, dtype=np.float32))
SCALE = tg.Tensor(np.full(4, 0.999, dtype=np.float32))
SEED = np.ones(4, dtype=np.float32)


def chain(ops: int) -> tg.Tensor:
    y = tg.Tensor(np.ones(4, dtype=np.float32), requires_grad=True)
    for _ in range(ops // 2):
        y = y + SHIFT
        y = y * SCALE
    return y


def backward_only(ops: int) -> float:
    y = chain(ops)
    start = time.perf_counter()
    y.backward(SEED)
    return time.perf_counter() - start


def forward_and_backward(ops: int) -> float:
    start = time.perf_counter()
    chain(ops).backward(SEED)
    return time.perf_counter() - start


def compare(a: Callable, b: Callable, workload: Callable[[int], float], ops: int, rounds: int) -> tuple[float, float]:
    """(min, median) of time(b) / time(a), the two run alternately."""
    times: dict[str, list[float]] = {"a": [], "b": []}
    original = backward.run_backward
    try:
        for i in range(rounds):
            for name, fn in (("a", a), ("b", b)) if i % 2 else (("b", b), ("a", a)):
                backward.run_backward = fn
                times[name].append(workload(ops))
    finally:
        backward.run_backward = original
    return (
        min(times["b"]) / min(times["a"]),
        statistics.median(times["b"]) / statistics.median(times["a"]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (noisier)")
    args = parser.parse_args()
    source = textwrap.dedent(inspect.getsource(backward.run_backward))
    stripped = _without_hook(source)
    if stripped == source:
        raise SystemExit("bench_recorder_off: found no observer hook in backward.run_backward")
    with_hook, without, without_again = _compiled(source), _compiled(stripped), _compiled(stripped)
    rounds = {"backward": 100 if args.quick else 400, "both": 400 if args.quick else 2000}
    print("time with the hooks (no observer on) / without them: min and median ratios")
    for title, workload, ops, key in (
        ("backward of a 2,000-op chain", backward_only, 2000, "backward"),
        ("forward + backward of a 200-op chain", forward_and_backward, 200, "both"),
    ):
        low, mid = compare(without, with_hook, workload, ops, rounds[key])
        low_aa, mid_aa = compare(without, without_again, workload, ops, rounds[key])
        print(f"{title}: {low:.3f} (min), {mid:.3f} (median);  A/A noise: {low_aa:.3f}, {mid_aa:.3f}")


if __name__ == "__main__":
    main()
