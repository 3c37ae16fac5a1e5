"""The chain rule on the textbook example f = (x + y) * z.

Computes f at x = -2, y = 5, z = -4, runs backward, prints every value and
gradient next to the one worked out by hand, and draws two pictures:

    chain_rule_forward.svg    the graph with each tensor's value and gradient
    chain_rule_backward.svg   the backward pass: local derivatives on the wires
                              and the order in which backward visits the nodes

Run it from the repository root:

    python examples/chain_rule.py                 # pictures next to this file
    python examples/chain_rule.py --docs          # pictures into docs/images
    python examples/chain_rule.py --out-dir DIR   # pictures into DIR

The pictures need the Graphviz program `dot`; without it only the table is printed.

By hand, with q = x + y:
    q = -2 + 5 = 3,  f = q * z = 3 * -4 = -12
    df/dq = z = -4,  df/dz = q = 3
    df/dx = df/dq * dq/dx = -4 * 1 = -4,  and the same for y.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOCS_IMAGES = HERE.parent / "docs" / "images"

try:
    import tinygrad_cnn  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(HERE.parent))

from tinygrad_cnn import Tensor  # noqa: E402
from tinygrad_cnn.viz import render_graph, retain_grads  # noqa: E402


def build() -> dict[str, Tensor]:
    """Run f = (x + y) * z forward and backward; return the tensors by name."""
    x = Tensor(-2.0, requires_grad=True, name="x")
    y = Tensor(5.0, requires_grad=True, name="y")
    z = Tensor(-4.0, requires_grad=True, name="z")
    q = x + y
    q.name = "q"
    f = q * z
    f.name = "f"
    # Intermediate tensors (q, f) drop their gradient after backward unless
    # asked to keep it: retain_grads asks for all of them at once.
    retain_grads(f)
    f.backward()
    return {"x": x, "y": y, "z": z, "q": q, "f": f}


# What the chain rule gives by hand: (value, df/d(tensor)).
BY_HAND = {"x": (-2.0, -4.0), "y": (5.0, -4.0), "z": (-4.0, 3.0), "q": (3.0, -4.0), "f": (-12.0, 1.0)}


def print_table(tensors: dict[str, Tensor]) -> bool:
    """Print values and gradients beside the hand-worked ones; True if all agree."""
    print(f"{'tensor':<8}{'value':>8}{'df/d(tensor)':>15}{'by hand':>16}")
    all_agree = True
    for name, tensor in tensors.items():
        value, grad = tensor.item(), tensor.grad.item()
        hand_value, hand_grad = BY_HAND[name]
        agree = value == hand_value and grad == hand_grad
        all_agree = all_agree and agree
        mark = "ok" if agree else "MISMATCH"
        print(f"{name:<8}{value:>8g}{grad:>15g}{f'{hand_value:g}, {hand_grad:g}':>13}  {mark}")
    return all_agree


def write_pictures(f: Tensor, out_dir: Path) -> list[str]:
    """The forward graph (values and gradients) and the backward pass, as SVG."""
    forward = render_graph(f, out_dir / "chain_rule_forward.svg")
    backward = render_graph(f, out_dir / "chain_rule_backward.svg", backward=True)
    return [forward, backward]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out-dir", type=Path, default=HERE, help="where to write the SVGs (default: here)")
    where.add_argument("--docs", action="store_true", help="write the SVGs into docs/images")
    args = parser.parse_args(argv)

    tensors = build()
    agree = print_table(tensors)
    if shutil.which("dot") is None:
        print("Graphviz `dot` not found: no pictures (apt-get install graphviz / brew install graphviz)")
    else:
        out_dir = DOCS_IMAGES if args.docs else args.out_dir
        for path in write_pictures(tensors["f"], out_dir):
            print(f"wrote {path}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
