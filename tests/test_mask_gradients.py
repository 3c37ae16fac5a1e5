"""Gradients that depend on their input only through a mask (relu, leaky_relu,
abs, clip, max/min, maximum/minimum, max_pool2d, avg_pool2d) keep a graph under
create_graph=True: differentiating them again gives exactly 0, as in PyTorch,
to any order (ops.DependsOn)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import functional as F

MASKED_OPS: dict[str, Callable[[tg.Tensor], tg.Tensor]] = {
    "relu": tg.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "abs": lambda x: x.abs(),
    "clip": lambda x: x.clip(-0.5, 0.5),
    "max": lambda x: x.max(axis=1),
    "min": lambda x: x.min(),
    "maximum": lambda x: tg.maximum(x, x[:, :1] * 0.5),
    "minimum": lambda x: tg.minimum(x, 0.25),
    "max_pool2d": lambda x: F.max_pool2d(x.reshape(1, 1, 4, 6), 2),
    "avg_pool2d": lambda x: F.avg_pool2d(x.reshape(1, 1, 4, 6), 2, stride=1, padding=1),
}


def _input() -> tg.Tensor:
    data = np.random.default_rng(3).standard_normal((4, 6))
    return tg.Tensor(data, requires_grad=True)


@pytest.mark.parametrize("name", list(MASKED_OPS))
def test_grad_with_create_graph_has_a_graph_and_zero_derivatives(name: str) -> None:
    x = _input()
    out = MASKED_OPS[name](x)
    upstream = tg.Tensor(np.random.default_rng(4).standard_normal(out.shape))
    (g,) = tg.grad(out, x, grad_outputs=upstream, create_graph=True)
    assert g.requires_grad, f"{name}: the gradient lost its graph"
    # Second and third order: exactly zero, each with a graph again.
    (gg,) = tg.grad((g * g.detach()).sum(), x, create_graph=True)
    assert gg.requires_grad and np.array_equal(gg.data, np.zeros_like(x.data))
    (ggg,) = tg.grad(gg.sum(), x, create_graph=True)
    assert ggg.requires_grad and np.array_equal(ggg.data, np.zeros_like(x.data))


@pytest.mark.parametrize("name", list(MASKED_OPS))
def test_backward_with_create_graph_then_backward_again(name: str) -> None:
    x = _input()
    MASKED_OPS[name](x).sum().backward(create_graph=True)
    first = x.grad.data.copy()
    assert x.grad.requires_grad, f"{name}: x.grad lost its graph"
    x.grad.sum().backward()  # d/dx of sum(dL/dx) is 0: .grad does not change
    np.testing.assert_array_equal(x.grad.data, first)


def test_the_first_gradient_itself_is_unchanged() -> None:
    x = tg.Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    (g,) = tg.grad(tg.relu(x).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.data, [0.0, 0.0, 1.0])
    (plain,) = tg.grad(tg.relu(x).sum(), x)
    assert not plain.requires_grad and plain.grad_fn is None  # without create_graph: no node, as before


def test_hessian_vector_product_through_relu_network() -> None:
    # d2/dw2 of sum(relu(x w)^2) = 2 x^T diag([xw > 0]) x: the mask's own derivative adds nothing.
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((5, 3)))
    w = tg.Tensor(rng.standard_normal(3), requires_grad=True)
    v = rng.standard_normal(3)
    (g,) = tg.grad((tg.relu(x @ w) ** 2).sum(), w, create_graph=True)
    (hv,) = tg.grad((g * tg.Tensor(v)).sum(), w)
    active = (x.data @ w.data > 0).astype(float)
    expected = 2 * x.data.T @ (active[:, None] * x.data) @ v
    np.testing.assert_allclose(hv.data, expected, rtol=1e-12)


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (2, 3)), ((1, 4), (4, 1)), ((), ())])
def test_depends_on_finite_differences(shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    # value passes through (identity), the tied input gets 0; first and second order.
    rng = np.random.default_rng(5)
    value = tg.Tensor(rng.standard_normal(shapes[0]), requires_grad=True)
    x = tg.Tensor(rng.standard_normal(shapes[1]), requires_grad=True)

    def fn(value: tg.Tensor, x: tg.Tensor) -> tg.Tensor:
        return tg.ops.DependsOn.apply(value * value, x)

    assert tg.gradcheck(fn, [value, x])
    assert tg.gradgradcheck(fn, [value, x])


def test_depends_on_is_not_recorded_outside_a_recorded_backward() -> None:
    x = tg.Tensor(np.array([1.0, -1.0]), requires_grad=True)
    tg.relu(x).sum().backward()
    assert x.grad.grad_fn is None and not x.grad.requires_grad
