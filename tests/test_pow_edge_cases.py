"""Pow's gradients at the edges of its domain, as PyTorch gives them:
d(a^b)/db at a = 0, and the slope of sqrt(x) = x ** 0.5 where the value is nan."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_cnn as tg


@pytest.mark.parametrize("exponent, expected", [(2.0, 0.0), (0.5, 0.0), (0.0, 0.0), (3.0, 0.0)])
def test_exponent_gradient_at_zero_base_is_zero(exponent: float, expected: float) -> None:
    # 0^b = 0 for every b > 0, so its slope in b is 0; PyTorch also uses 0 at b = 0.
    a = tg.Tensor(np.array([0.0, 0.0]), requires_grad=True)
    b = tg.Tensor(np.array(exponent), requires_grad=True)
    (a**b).sum().backward()
    assert b.grad.item() == expected


def test_exponent_gradient_elsewhere_is_unchanged() -> None:
    a = tg.Tensor(np.array([0.0, 2.0, 3.0]), requires_grad=True)
    b = tg.Tensor(np.array([1.5, 1.5, 0.0]), requires_grad=True)
    (a**b).sum().backward()
    np.testing.assert_allclose(b.grad.data, [0.0, 2.0**1.5 * np.log(2.0), np.log(3.0)], rtol=1e-12)
    np.testing.assert_allclose(a.grad.data, [0.0, 1.5 * 2.0**0.5, 0.0], rtol=1e-12)


def test_exponent_gradient_with_broadcast_zero_base() -> None:
    a = tg.Tensor(np.array([[0.0], [1.0]]), requires_grad=True)
    b = tg.Tensor(np.array([0.0, 2.0, 0.5]), requires_grad=True)
    (a**b).sum().backward()
    assert np.isfinite(b.grad.data).all()
    np.testing.assert_array_equal(b.grad.data, [0.0, 0.0, 0.0])  # ln 1 = 0 and the zero base gives 0


def test_negative_exponent_at_zero_base_stays_minus_inf() -> None:
    # 0^-1 = inf; its slope in b, inf * ln 0 = -inf, as in PyTorch.
    a = tg.Tensor(np.array([0.0]), requires_grad=True)
    b = tg.Tensor(np.array(-1.0), requires_grad=True)
    (a**b).sum().backward()
    assert b.grad.item() == -np.inf


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("spelling", ["sqrt", "pow"])
def test_sqrt_slope_is_nan_where_the_value_is_nan(spelling: str, dtype: type) -> None:
    x = tg.Tensor(np.array([-np.inf, -1.0, 0.0, 4.0, np.inf], dtype=dtype), requires_grad=True)
    y = x.sqrt() if spelling == "sqrt" else x**0.5
    y.sum().backward()
    assert x.grad.dtype == dtype
    np.testing.assert_array_equal(np.isnan(y.data), [True, True, False, False, False])
    np.testing.assert_array_equal(x.grad.data, np.array([np.nan, np.nan, np.inf, 0.25, 0.0], dtype=dtype))
