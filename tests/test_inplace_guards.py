"""Two in-place changes that gave silently wrong gradients now raise, as in
PyTorch: a custom Function whose forward writes into its input array, and an
in-place change through `detach()` of a computed tensor that the graph reads."""

from __future__ import annotations

import copy
import gc
import pickle
import weakref

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn.function import Function


class _DoubleAfterAddingOneInPlace(Function):
    """A wrong forward: it changes its input's array."""

    vjp_rule = "dL/dx = 2·g"

    def forward(self, x):
        x += 1
        return 2 * x

    def backward(self, g):
        return (g * 2,)


class _Square(Function):
    """A correct custom op, for comparison: it reads its input and writes nothing."""

    vjp_rule = "dL/dx = 2·g·x"

    def forward(self, x):
        return x * x

    def backward(self, g):
        (x,) = self.parents
        return (g * 2 * x,)


def test_custom_forward_writing_into_its_input_raises_and_leaves_the_input_unchanged() -> None:
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3.0
    y = h * h  # Mul reads h in backward
    with pytest.raises(RuntimeError, match=r"_DoubleAfterAddingOneInPlace.forward wrote into one of its input arrays"):
        _DoubleAfterAddingOneInPlace.apply(h)
    np.testing.assert_array_equal(h.data, [3.0, 6.0])
    assert h.data.flags.writeable  # the guard is lifted again
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [18.0, 36.0])  # d(9x^2)/dx = 18x


def test_custom_forward_writing_into_a_leaf_raises() -> None:
    x = tg.Tensor(np.array([2.0]), requires_grad=True)
    with pytest.raises(RuntimeError, match="wrote into one of its input arrays"):
        _DoubleAfterAddingOneInPlace.apply(x)
    np.testing.assert_array_equal(x.data, [2.0])


def test_a_correct_custom_function_still_works_and_inputs_stay_writeable() -> None:
    x = tg.Tensor(np.array([1.0, -3.0]), requires_grad=True)
    _Square.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, -6.0])
    assert x.data.flags.writeable
    x.data[0] = 5.0  # still the user's own array


def test_inplace_change_through_detach_of_a_computed_tensor_raises_at_backward() -> None:
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 2.0
    y = (h * h).sum()
    h.detach().add_(1)
    with pytest.raises(RuntimeError, match=r"gradient of Mul needs was changed by an in-place operation"):
        y.backward()


def test_inplace_change_through_a_view_of_the_detached_tensor_raises_too() -> None:
    x = tg.Tensor(np.array([[1.0, 2.0]]), requires_grad=True)
    h = x.exp()  # Exp reads its output in backward
    loss = h.sum()
    h.detach().reshape(2)[0:1].mul_(3.0)
    with pytest.raises(RuntimeError, match=r"gradient of Exp needs was changed"):
        loss.backward()


def test_detach_of_a_computed_tensor_does_not_keep_the_graph_alive() -> None:
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 2.0
    node = weakref.ref(h.grad_fn)
    kept = h.detach()
    del h
    gc.collect()
    assert node() is None
    kept.add_(1)  # the tensor it came from is gone: nothing to tell
    np.testing.assert_array_equal(kept.data, [3.0, 5.0])


def test_detach_without_an_inplace_change_leaves_backward_alone() -> None:
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 2.0
    y = (h * h).sum()
    d = h.detach()
    assert not d.requires_grad and d.grad_fn is None and np.shares_memory(d.data, h.data)
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [8.0, 16.0])


def test_detach_of_a_computed_tensor_pickles_and_copies_as_a_plain_tensor() -> None:
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    kept = (x * 2.0).detach()
    for copied in (pickle.loads(pickle.dumps(kept)), copy.deepcopy(kept)):
        assert type(copied) is tg.Tensor and not copied.requires_grad
        np.testing.assert_array_equal(copied.data, [2.0, 4.0])
        assert not np.shares_memory(copied.data, kept.data)
