"""The backward drawing of the tiny CNN of docs/cnn_step_by_step.md.

Builds the page's network with its numbers (a 4x4 input, one 2x2 filter with
bias, ReLU, 2x2 max-pool with stride 1, flatten, a dense layer to 2 classes,
cross-entropy), runs backward with every intermediate gradient kept, and draws
the backward pass with `render_graph`: each node shows its value and its
gradient, the arrows point the way the gradient travels.

    python examples/cnn_step_by_step_drawing.py                 # cnn_step_by_step_backward.svg here
    python examples/cnn_step_by_step_drawing.py --docs          # into docs/images
    python examples/cnn_step_by_step_drawing.py --out-dir DIR   # into DIR

Needs the Graphviz program `dot`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DOCS_IMAGES = HERE.parent / "docs" / "images"
FILE_NAME = "cnn_step_by_step_backward.svg"

try:
    import tinygrad_cnn  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(HERE.parent))

from tinygrad_cnn import Tensor  # noqa: E402
from tinygrad_cnn import functional as F  # noqa: E402
from tinygrad_cnn.viz import render_graph, retain_grads  # noqa: E402


def leaf(values: list, name: str, requires_grad: bool = True) -> Tensor:
    return Tensor(np.array(values, dtype=np.float64), requires_grad=requires_grad, name=name)


def tiny_cnn_loss() -> Tensor:
    """The page's forward pass, named step by step; backward has run."""
    x = leaf([[[[2, 2, -1, -1], [0, 2, 0, -1], [2, 2, 0, 1], [0, -1, 0, 0]]]], "input")
    w = leaf([[[[2, 0], [-1, 1]]]], "conv.weight")
    b = leaf([1], "conv.bias")
    fc_weight = leaf([[1, 0, 0, -1], [-2, 1, 1, 1]], "fc.weight")
    fc_bias = leaf([0.5, 0.5], "fc.bias")
    steps = {}
    steps["conv"] = F.conv2d(x, w, b)
    steps["relu"] = F.relu(steps["conv"])
    steps["pool"] = F.max_pool2d(steps["relu"], 2, stride=1)
    steps["flat"] = steps["pool"].reshape(1, 4)
    steps["logits"] = steps["flat"] @ fc_weight.T + fc_bias
    steps["loss"] = F.cross_entropy(steps["logits"], Tensor(np.array([0]), name="target"))
    for name, tensor in steps.items():
        tensor.name = name
    retain_grads(steps["loss"])
    steps["loss"].backward()
    return steps["loss"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out-dir", type=Path, default=HERE, help="where to write the SVG (default: here)")
    where.add_argument("--docs", action="store_true", help="write the SVG into docs/images")
    args = parser.parse_args(argv)
    out_dir = DOCS_IMAGES if args.docs else args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    path = render_graph(tiny_cnn_loss(), out_dir / FILE_NAME, backward=True, rankdir="TB")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
