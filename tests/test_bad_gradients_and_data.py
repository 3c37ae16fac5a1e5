"""Clear errors for an upstream gradient that is not made of real numbers, and
for a tensor that requires grad whose `.data` was replaced by something other
than a float array (it would silently leave the graph)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import viz


def _graph() -> tuple[tg.Tensor, tg.Tensor]:
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True, name="x")
    return x, x * 3.0


@pytest.mark.parametrize("gradient", [np.array([1 + 2j, 1.0]), [1j, 2.0], np.complex64(1) * np.ones(2)])
def test_complex_gradient_is_refused_before_anything_runs(gradient: object) -> None:
    x, y = _graph()
    with pytest.raises(TypeError, match=r"backward: gradient is complex .*imaginary part"):
        y.backward(gradient)
    assert x.grad is None
    y.backward(np.ones(2))  # the graph is intact: a retry works
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])


def test_complex_gradient_to_grad_names_grad() -> None:
    x, y = _graph()
    with pytest.raises(TypeError, match=r"^grad: gradient is complex"):
        tg.grad(y, x, grad_outputs=np.array([1j, 1j]))


def test_complex_gradient_into_save_stepper_writes_nothing(tmp_path: Path) -> None:
    x, y = _graph()
    path = tmp_path / "steps.html"
    with pytest.raises(TypeError, match="gradient is complex"):
        viz.save_stepper(y, path, gradient=np.array([1j, 1.0]))
    assert not path.exists() and x.grad is None


@pytest.mark.parametrize("gradient", [np.array(["a", "b"]), ["1", "2"], np.array([None, None], dtype=object)])
def test_gradient_of_strings_or_objects_names_backward_and_gradient(gradient: object) -> None:
    x, y = _graph()
    with pytest.raises(TypeError, match=r"backward: gradient must hold numbers, got an array of dtype .* shape \(2,\)"):
        y.backward(gradient)
    assert x.grad is None


def test_a_real_gradient_of_ints_or_a_list_still_works() -> None:
    x, y = _graph()
    y.backward([1, 2])
    np.testing.assert_array_equal(x.grad.data, [3.0, 6.0])


@pytest.mark.parametrize("use", [
    lambda p: p * 2.0, lambda p: p + tg.Tensor(np.ones(3)), lambda p: p.exp(), lambda p: p.log(),
    lambda p: p.sigmoid(), lambda p: p / 2, lambda p: p.sqrt(),
], ids=["mul", "add", "exp", "log", "sigmoid", "div", "sqrt"])
def test_integer_array_assigned_to_data_of_a_tensor_that_requires_grad_is_refused(use) -> None:
    p = tg.Tensor(np.ones(3), requires_grad=True)
    p.data = np.arange(3)
    with pytest.raises(TypeError, match=r"requires grad holds int64 data \(shape \(3,\)\).*assigned to .data"):
        use(p)


def test_integer_data_without_requires_grad_is_still_promoted() -> None:
    t = tg.Tensor(np.arange(3))
    assert (t * 2.5).dtype == np.float32 and t.exp().dtype == np.float32


@pytest.mark.parametrize("use", [lambda p: p * 2.0, lambda p: tg.Tensor(np.ones(3)) + p, lambda p: p - p])
def test_a_list_assigned_to_data_is_a_clear_error(use) -> None:
    p = tg.Tensor(np.ones(3), requires_grad=True)
    p.data = [1.0, 2.0, 3.0]
    with pytest.raises(TypeError, match=r"holds a list in .data, not a numpy array"):
        use(p)


@pytest.mark.parametrize("use", [lambda p: tg.relu(p), lambda p: p.sum(), lambda p: p[0:2]],
                         ids=["relu", "sum", "slice"])
def test_integer_data_in_a_leaf_is_refused_by_backward_before_grad_is_written(use) -> None:
    # Ops that accept integers (relu, sum, indexing) pass the tensor on; backward refuses to
    # accumulate an integer gradient into it, naming the tensor.
    p = tg.Tensor(np.ones(3), requires_grad=True, name="w")
    p.data = np.arange(3)
    with pytest.raises(TypeError, match=r"backward: the tensor 'w' requires grad but holds int64 data in .data"):
        use(p).sum().backward()
    assert p.grad is None


# Every kind of op meets a list in .data with the same clear error: the unary
# and reduction ops through the tensor's shape/dtype/ndim, the ops whose forward
# accepts a list (relu, abs, indexing) when backward reads it, the others when
# their forward fails.
LIST_DATA_USES = {
    "sum": lambda p: p.sum(),
    "mean": lambda p: p.mean(),
    "reshape": lambda p: p.reshape(2, 1),
    "transpose": lambda p: p.T,
    "matmul": lambda p: p @ tg.Tensor(np.ones((2, 2))),
    "softmax": lambda p: tg.functional.softmax(p, 1),
    "exp": lambda p: p.exp(),
    "neg": lambda p: -p,
    "pow": lambda p: p**2,
    "rmul": lambda p: 2.0 * p,
    "linear": lambda p: tg.functional.linear(p, tg.Tensor(np.ones((3, 2)))),
    "relu then backward": lambda p: tg.relu(p).sum().backward(),
    "abs then backward": lambda p: abs(p).sum().backward(),
}


@pytest.mark.parametrize("use", list(LIST_DATA_USES.values()), ids=list(LIST_DATA_USES))
def test_a_list_in_data_is_named_by_every_kind_of_op(use) -> None:
    p = tg.Tensor(np.array([[1.0, -2.0]]), requires_grad=True)
    p.data = [[1.0, -2.0]]
    with pytest.raises(TypeError, match=r"holds a list in \.data, not a numpy array; assign arrays to \.data"):
        use(p)
