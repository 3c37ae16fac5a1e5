"""Regression tests for the differences the differential test against PyTorch
(test_differential_torch.py) found, written without PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import functional as F


@pytest.mark.parametrize("upstream", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("kernel, stride", [((2, 2), 1), ((3, 3), 2), ((2, 2), 2)],
                         ids=["overlap", "overlap-3", "tiles"])
def test_max_pool_routes_a_non_finite_gradient_to_the_maximum_only(upstream: float, kernel, stride) -> None:
    # Found by program 1188: an infinite upstream gradient (an overflowed loss) gave
    # nan = 0 * inf at every other position of the window; PyTorch gives 0 there.
    x = tg.Tensor(np.arange(25.0).reshape(1, 1, 5, 5), requires_grad=True)
    y = F.max_pool2d(x, kernel, stride)
    g = np.ones(y.shape)
    g[0, 0, 0, 0] = upstream
    y.backward(g)
    grad = x.grad.data[0, 0]
    winner = (kernel[0] - 1, kernel[1] - 1)  # the bottom-right of each window is its maximum here
    assert np.isnan(grad[winner]) if np.isnan(upstream) else grad[winner] == upstream
    others = np.ones_like(grad, dtype=bool)
    others[winner] = False
    assert np.isfinite(grad[others]).all()
    assert grad[0, 0] == 0.0  # never a maximum
