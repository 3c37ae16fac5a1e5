"""The smallest CNN there is, with its filter gradient checked three ways.

    image x (1, 1, 8, 8)
      -> conv with one 3x3 filter w and bias b   z1 = x ⋆ w + b       (1, 1, 6, 6)
      -> sigmoid                                  a1 = sigmoid(z1)
      -> flatten, dense layer v (36 -> 1), c      z2 = v . a1 + c
      -> sigmoid                                  O  = sigmoid(z2)
    squared error                                 E  = (y - O)^2 / 2

The gradient of E with respect to the filter w is computed

1. by the library's backward pass (autograd),
2. by hand, with the chain rule written out:
       dE/dO   = O - y
       dE/dz2  = (O - y) * O * (1 - O)                 (sigmoid' = s (1 - s))
       dE/da1  = dE/dz2 * v                             (reshaped to 6x6)
       dE/dz1  = dE/da1 * a1 * (1 - a1)
       dE/dw   = valid cross-correlation of x with dE/dz1:
                 dE/dw[i, j] = sum over (p, q) of x[p + i, q + j] * dE/dz1[p, q]
   (a cross-correlation, not a convolution: no kernel flip),
3. by central finite differences, (E(w + eps) - E(w - eps)) / (2 eps),

all in float64, and the three are compared. A few steps of gradient descent
then show E going down.

(x ⋆ w is the valid cross-correlation, what conv2d computes.) The page
docs/conv_in_loops.md writes the same chain with the convolution in plain
Python loops.

Run:  python examples/single_conv_mse.py [--steps 20] [--lr 1.0] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import tinygrad_cnn as tg
from tinygrad_cnn import functional as F


def forward(x: tg.Tensor, w: tg.Tensor, b: tg.Tensor, v: tg.Tensor, c: tg.Tensor,
            y: float) -> tuple[tg.Tensor, dict[str, tg.Tensor]]:
    """The network and its loss; also returns the intermediate values for the hand computation."""
    z1 = F.conv2d(x, w, b)  # (1, 1, 6, 6)
    a1 = F.sigmoid(z1)
    z2 = a1.reshape(1, -1) @ v + c  # (1, 1)
    out = F.sigmoid(z2)
    error = 0.5 * (y - out) ** 2
    return error.sum(), {"a1": a1, "out": out}


def hand_gradient(x: np.ndarray, v: np.ndarray, a1: np.ndarray, out: float, y: float) -> np.ndarray:
    """dE/dw by the chain rule, in plain numpy."""
    d_z2 = (out - y) * out * (1 - out)
    d_a1 = (d_z2 * v[:, 0]).reshape(a1.shape)
    d_z1 = d_a1 * a1 * (1 - a1)
    image = x[0, 0]
    delta = d_z1[0, 0]
    kh, kw = 3, 3
    grad = np.zeros((kh, kw))
    for i in range(kh):
        for j in range(kw):
            # The patch of the input that filter tap (i, j) saw, times the upstream gradient.
            patch = image[i:i + delta.shape[0], j:j + delta.shape[1]]
            grad[i, j] = np.sum(patch * delta)
    return grad.reshape(1, 1, kh, kw)


def finite_difference_gradient(loss_of_w, w: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences, one filter entry at a time."""
    grad = np.zeros_like(w)
    for index in np.ndindex(w.shape):
        saved = w[index]
        w[index] = saved + eps
        plus = loss_of_w(w)
        w[index] = saved - eps
        minus = loss_of_w(w)
        w[index] = saved
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="gradient descent steps to show (default 20)")
    parser.add_argument("--lr", type=float, default=1.0, help="learning rate of those steps (default 1.0)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    x = tg.Tensor(rng.standard_normal((1, 1, 8, 8)))  # float64 throughout
    y = 1.0  # the target output
    # Small random weights (scaled by 1/sqrt(fan-in) so the sigmoids are not saturated).
    w = tg.Tensor(rng.standard_normal((1, 1, 3, 3)) / 3, requires_grad=True)
    b = tg.Tensor(np.zeros(1), requires_grad=True)
    v = tg.Tensor(rng.standard_normal((36, 1)) / 6, requires_grad=True)
    c = tg.Tensor(np.zeros(1), requires_grad=True)

    error, values = forward(x, w, b, v, c, y)
    error.backward()
    autograd = w.grad.numpy()

    hand = hand_gradient(x.numpy(), v.numpy(), values["a1"].numpy(), values["out"].item(), y)

    def loss_of_w(w_array: np.ndarray) -> float:
        with tg.no_grad():
            return forward(x, tg.Tensor(w_array), b, v, c, y)[0].item()

    numeric = finite_difference_gradient(loss_of_w, w.numpy().copy())

    print(f"E = {error.item():.6f}   (O = {values['out'].item():.6f}, y = {y})")
    print("dE/dw, filter entry by entry:")
    print("  (i, j)        autograd            by hand    finite difference")
    for i, j in np.ndindex(3, 3):
        print(f"  ({i}, {j})  {autograd[0, 0, i, j]: .10e}  {hand[0, 0, i, j]: .10e}  {numeric[0, 0, i, j]: .10e}")
    # PyTorch's gradcheck tolerance: |a - n| <= atol + rtol * |n|.
    atol, rtol = 1e-5, 1e-3
    ok_numeric = np.all(np.abs(autograd - numeric) <= atol + rtol * np.abs(numeric))
    ok_hand = np.allclose(autograd, hand, rtol=1e-10, atol=1e-14)
    print(f"max |autograd - finite difference| = {np.abs(autograd - numeric).max():.2e}"
          f"  -> {'OK' if ok_numeric else 'MISMATCH'}")
    print(f"max |autograd - by hand|           = {np.abs(autograd - hand).max():.2e}"
          f"  -> {'OK' if ok_hand else 'MISMATCH'}")

    if args.steps > 0:
        print(f"gradient descent, lr {args.lr}:")
        params = [w, b, v, c]
        for step in range(1, args.steps + 1):
            for p in params:
                p.grad = None
            error, _ = forward(x, w, b, v, c, y)
            error.backward()
            with tg.no_grad():
                for p in params:
                    p.data -= args.lr * p.grad.data  # the update: w <- w - lr * dE/dw
            if step == 1 or step % 5 == 0 or step == args.steps:
                print(f"  step {step:3d}: E = {error.item():.6f}")
    return 0 if ok_numeric and ok_hand else 1


if __name__ == "__main__":
    sys.exit(main())
