"""Backpropagation through a tiny CNN, every number checkable by hand.

A 1x1x4x4 image goes through one 2x2 filter with bias, ReLU, a 2x2 max-pool
with stride 1, flatten and a linear layer to 2 classes; the loss is the
cross-entropy with target class 0. The script runs it forward and backward,
prints every value and gradient next to the ones worked out by hand, and
draws two pictures:

    tiny_cnn_forward.svg    the graph with each tensor's value and gradient
    tiny_cnn_backward.svg   the backward pass: each op's rule on its wires and
                            the order in which backward visits the nodes

and the step-through page tiny_cnn_steps.html, to open in a browser (not with --docs).

Run it from the repository root:

    python examples/tiny_cnn.py                 # pictures next to this file
    python examples/tiny_cnn.py --docs          # pictures into docs/images
    python examples/tiny_cnn.py --out-dir DIR   # pictures into DIR

The pictures need the Graphviz program `dot`; without it only the table is printed.

By hand (the numbers are in tinygrad_cnn/viz/examples.py, TINY_CNN_NUMBERS):
    conv_out = x ⋆ W + 1 = [[7, 3, -2], [1, 3, 2], [4, 6, 1]]; ReLU zeroes the -2
    pool_out = [[7, 3], [6, 6]]: the 6 wins both bottom windows; 3 = 3 is a tie
    logits = fc.weight · [7, 3, 6, 6] + 0.5 = [1.5, 1.5]: softmax [0.5, 0.5], loss ln 2
    dL/dlogits = p - onehot(0) = [-0.5, 0.5]
    dL/dflat = fc.weightᵀ · [-0.5, 0.5] = [-1.5, 0.5, 0.5, 1]
    the pool routes these to the winners: the 6 gets 0.5 + 1 = 1.5, the tie's
    first 3 gets 0.5, the second none
    dL/dW = x ⋆ dL/dconv_out = [[1, -3.5], [-0.5, -3]], dL/db = -1.5 + 0.5 + 1.5 = 0.5
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DOCS_IMAGES = HERE.parent / "docs" / "images"

try:
    import tinygrad_cnn  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(HERE.parent))

from tinygrad_cnn import Tensor  # noqa: E402
from tinygrad_cnn.viz import render_graph, save_stepper, tiny_cnn_example  # noqa: E402

# What the chain rule gives by hand: (value, dL/d(tensor)); None where the
# tensor has no gradient (the integer target).
BY_HAND = {
    "input": ([[2, 2, -1, -1], [0, 2, 0, -1], [2, 2, 0, 1], [0, -1, 0, 0]],
              [[-3, 1, 0, 0], [1.5, -2, 0.5, 0], [0, 3, 0, 0], [0, -1.5, 1.5, 0]]),
    "conv.weight": ([[2, 0], [-1, 1]], [[1, -3.5], [-0.5, -3]]),
    "conv.bias": ([1], [0.5]),
    "conv_out": ([[7, 3, -2], [1, 3, 2], [4, 6, 1]], [[-1.5, 0.5, 0], [0, 0, 0], [0, 1.5, 0]]),
    "relu_out": ([[7, 3, 0], [1, 3, 2], [4, 6, 1]], [[-1.5, 0.5, 0], [0, 0, 0], [0, 1.5, 0]]),
    "pool_out": ([[7, 3], [6, 6]], [[-1.5, 0.5], [0.5, 1]]),
    "flat": ([7, 3, 6, 6], [-1.5, 0.5, 0.5, 1]),
    "fc.weight": ([[1, 0, 0, -1], [-2, 1, 1, 1]], [[-3.5, -1.5, -3, -3], [3.5, 1.5, 3, 3]]),
    "fc.bias": ([0.5, 0.5], [-0.5, 0.5]),
    "logits": ([1.5, 1.5], [-0.5, 0.5]),
    "target": ([0], None),
    "loss": (math.log(2), 1.0),
}


def _text(array: np.ndarray) -> str:
    """A small array on one line, without its size-1 axes: [[2, 0], [-1, 1]]."""
    values = np.asarray(array, dtype=np.float64).squeeze()
    if values.ndim == 0:
        return f"{values.item():.4g}"
    return "[" + ", ".join(_text(row) for row in values) + "]"


def print_table(tensors: dict[str, Tensor]) -> bool:
    """Print values and gradients with a check against the hand-worked ones; True if all agree."""
    print("tensor (shape): its value, and dL/d(tensor) below it")
    all_agree = True
    for name, tensor in tensors.items():
        hand_value, hand_grad = BY_HAND[name]
        agree = np.allclose(tensor.data.squeeze(), np.squeeze(hand_value), rtol=1e-6)
        if hand_grad is None:
            agree = agree and tensor.grad is None
        else:
            agree = agree and tensor.grad is not None
            agree = agree and np.allclose(tensor.grad.data.squeeze(), np.squeeze(hand_grad), rtol=1e-6)
        all_agree = all_agree and agree
        heading = f"{name} {tuple(tensor.shape)}"
        print(f"{heading:<28}by hand: {'ok' if agree else 'MISMATCH'}")
        print(f"    value  {_text(tensor.data)}")
        if tensor.grad is not None:
            print(f"    grad   {_text(tensor.grad.data)}")
    return all_agree


def write_pictures(loss: Tensor, out_dir: Path) -> list[str]:
    """The forward graph (values and gradients) and the backward pass, as SVG, top to bottom."""
    forward = render_graph(loss, out_dir / "tiny_cnn_forward.svg", rankdir="TB")
    backward = render_graph(loss, out_dir / "tiny_cnn_backward.svg", backward=True, rankdir="TB")
    return [forward, backward]


def write_page(out_dir: Path) -> str:
    """The step-through page: a fresh tiny CNN whose backward pass the page records itself."""
    loss = tiny_cnn_example(run_backward=False)["loss"]
    return save_stepper(loss, out_dir / "tiny_cnn_steps.html")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out-dir", type=Path, default=HERE, help="where to write the SVGs and page (default: here)")
    where.add_argument("--docs", action="store_true", help="write the SVGs into docs/images")
    args = parser.parse_args(argv)

    tensors = tiny_cnn_example()
    agree = print_table(tensors)
    if shutil.which("dot") is None:
        print("Graphviz `dot` not found: no pictures (apt-get install graphviz / brew install graphviz)")
    else:
        out_dir = DOCS_IMAGES if args.docs else args.out_dir
        for path in write_pictures(tensors["loss"], out_dir):
            print(f"wrote {path}")
        if not args.docs:  # the page is for opening in a browser, not an image of the docs
            print(f"wrote {write_page(out_dir)}  (open it in a browser)")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
