"""Losses on edge cases that used to give silently wrong results: every target
ignored in cross-entropy, and BCE with values outside [0, 1] or nan."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import functional as F
from tinygrad_cnn import nn, optim


@pytest.mark.parametrize("loss_fn", [
    lambda x, t, **kw: F.cross_entropy(x, t, **kw),
    lambda x, t, **kw: F.nll_loss(F.log_softmax(x, axis=1), t, **kw),
], ids=["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("shape", [(3, 4), (2, 5, 3)])
def test_all_targets_ignored_gives_nan_mean_but_zero_gradients(loss_fn, shape) -> None:
    # As in PyTorch: the mean over no counted targets is nan, the sum is 0,
    # and the gradients are zeros, never nan.
    x = tg.Tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)
    target = np.full((shape[0],) + shape[2:], -100)
    mean = loss_fn(x, target)
    assert np.isnan(mean.item())
    mean.backward()
    np.testing.assert_array_equal(x.grad.data, np.zeros(shape))
    x.grad = None
    total = loss_fn(x, target, reduction="sum")
    assert total.item() == 0.0
    total.backward()
    np.testing.assert_array_equal(x.grad.data, np.zeros(shape))
    none = loss_fn(x, target, reduction="none")
    np.testing.assert_array_equal(none.data, np.zeros(target.shape))


def test_an_all_ignored_batch_leaves_the_weights_finite() -> None:
    tg.manual_seed(0)
    model = nn.Linear(4, 3)
    opt = optim.SGD(model.parameters(), lr=0.1)
    x = tg.Tensor(np.ones((2, 4), dtype=np.float32))
    F.cross_entropy(model(x), np.array([-100, -100])).backward()
    opt.step()
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_some_targets_ignored_still_averages_over_the_counted_ones() -> None:
    x = tg.Tensor(np.random.default_rng(1).standard_normal((4, 3)), requires_grad=True)
    loss = F.cross_entropy(x, np.array([0, -100, 2, -100]))
    expected = (F.cross_entropy(x[0:1], np.array([0])).item() + F.cross_entropy(x[2:3], np.array([2])).item()) / 2
    np.testing.assert_allclose(loss.item(), expected)


@pytest.mark.parametrize("bad, name", [
    ([0.5, 1.5, 0.0], "target"), ([0.5, -0.5, 0.0], "target"), ([np.nan, 0.0, 1.0], "target"),
])
def test_bce_target_outside_zero_one_or_nan_raises(bad, name) -> None:
    p = tg.Tensor([0.2, 0.5, 0.9], requires_grad=True)
    with pytest.raises(ValueError, match=rf"binary_cross_entropy: {name} must hold values in \[0, 1\], "
                                         r"got 1 element\(s\) outside"):
        F.binary_cross_entropy(p, bad)


@pytest.mark.parametrize("bad", [[0.5, 1.5, 0.0], [np.nan, 0.5, 0.5], [-np.inf, 0.5, 0.5]])
def test_bce_input_outside_zero_one_or_nan_raises(bad) -> None:
    p = tg.Tensor(np.array(bad, dtype=np.float32), requires_grad=True)
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input must hold probabilities in \[0, 1\].*"
                                         "binary_cross_entropy_with_logits"):
        F.binary_cross_entropy(p, [0.0, 1.0, 0.0])


def test_bce_accepts_the_bounds() -> None:
    p = tg.Tensor([0.0, 1.0, 0.5], requires_grad=True)
    loss = F.binary_cross_entropy(p, [0.0, 1.0, 1.0])
    np.testing.assert_allclose(loss.item(), np.log(2) / 3, rtol=1e-6)
    loss.backward()
    assert np.isfinite(p.grad.data).all()


def test_bce_with_logits_accepts_soft_targets_outside_zero_one_as_pytorch_does() -> None:
    # PyTorch checks neither the range of the targets nor nan here; the formula is defined for any y.
    x = tg.Tensor([0.3, -1.0], dtype=np.float64)
    loss = F.binary_cross_entropy_with_logits(x, [1.5, -0.5], reduction="none")
    expected = (1 - np.array([1.5, -0.5])) * x.data + np.log1p(np.exp(-x.data))
    np.testing.assert_allclose(loss.data, expected)
