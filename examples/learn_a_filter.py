"""Learning a known filter back: a one-filter convolution trained to find a Sobel kernel.

The training images are random; each target is that image filtered by a known
3x3 edge kernel (Sobel, vertical edges, as a cross-correlation):

    target = image (*) SOBEL        SOBEL = [[1, 0, -1],
                                             [2, 0, -2],
                                             [1, 0, -1]]

A convolution with one 3x3 filter and no bias starts from random weights and is
trained with plain SGD on the mean squared error. The error is a quadratic bowl
whose bottom is SOBEL, so gradient descent walks the filter there: each step
moves it by -lr * dW, where dW is the input cross-correlated with the error
(docs/convolution.md). With random (white-noise) images every direction of the
filter is equally visible, and each step shrinks the error by about the same
factor (about 1 - 2 lr here); on natural images, whose neighbouring pixels are
alike, it takes many more steps.

The run is recorded by `save_training_page`: open the page to watch the filter
converge, its gradient shrink, and its feature map on a picture of a square
turn into the square's vertical edges. The script checks that the kernel was
recovered to within 1e-2 (largest absolute difference) and prints the step at
which it first got there.

Run:  python examples/learn_a_filter.py [--out-dir DIR] [--steps 40] [--lr 0.1] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import tinygrad_cnn as tg
from tinygrad_cnn import functional as F
from tinygrad_cnn import nn, optim
from tinygrad_cnn.viz import save_training_page

SOBEL = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]], dtype=np.float32)
TOLERANCE = 1e-2
PAGE_NAME = "learn_a_filter.html"


def make_batches(steps: int, batch_size: int, size: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`steps` batches of random images and the same images filtered by SOBEL."""
    rng = np.random.default_rng(seed)
    kernel = tg.Tensor(SOBEL.reshape(1, 1, 3, 3))
    batches = []
    for _ in range(steps):
        images = rng.standard_normal((batch_size, 1, size, size)).astype(np.float32)
        with tg.no_grad():
            targets = F.conv2d(tg.Tensor(images), kernel).data
        batches.append((images, targets))
    return batches


def square_picture(size: int = 20) -> np.ndarray:
    """A white square on a dark background: the image whose feature map the page shows."""
    picture = np.full((1, size, size), -0.5, dtype=np.float32)
    picture[0, 5:15, 5:15] = 0.5
    return picture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path("."), help="where to write the page (default: here)")
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps (default 40)")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate of SGD (default 0.1)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per step (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the images (default 0)")
    args = parser.parse_args(argv)

    tg.manual_seed(args.seed)
    conv = nn.Conv2d(1, 1, kernel_size=3, bias=False)
    optimizer = optim.SGD(conv.parameters(), lr=args.lr)
    batches = make_batches(args.steps, args.batch_size, 16, args.seed)
    path = args.out_dir / PAGE_NAME
    record = save_training_page(conv, F.mse_loss, batches, optimizer, args.steps, path, image=square_picture(),
                                title="Learning a Sobel filter back with SGD")

    # The largest difference from SOBEL of the filter used at each step, then after the last one.
    errors = [float(np.abs(w[0, 0] - SOBEL).max()) for w in record.values["weight"]]
    within = next((k for k, error in enumerate(errors) if error < TOLERANCE), None)
    final = errors[-1]
    np.set_printoptions(precision=4, suppress=True)
    print(f"start: max |W - SOBEL| = {errors[0]:.4f}, loss {record.losses[0]:.4f}")
    print(f"after {args.steps} steps of SGD (lr {args.lr:g}): max |W - SOBEL| = {final:.2e}, "
          f"last loss {record.losses[-1]:.2e}")
    print(f"learned filter:\n{conv.weight.data[0, 0]}")
    print(f"wrote {path}  (open it in a browser)")
    if within is None:
        print(f"the filter is not within {TOLERANCE:g} of SOBEL after {args.steps} steps: "
              "take more steps or a larger --lr", file=sys.stderr)
        return 1
    print(f"within {TOLERANCE:g} of SOBEL after {within} steps")
    assert final < TOLERANCE, f"the filter moved away again: max |W - SOBEL| = {final}"
    return 0


if __name__ == "__main__":
    sys.exit(main())
