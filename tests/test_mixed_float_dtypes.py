"""One rule for float32 mixed with float64, in every op that takes two or more
float tensors: numpy's promotion (as `x32 - y64` gives float64). The op
computes in the widest dtype and returns it; each input's gradient comes back
in that input's own dtype, with the values of the all-float64 computation."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import functional as F

Op = Callable[..., tg.Tensor]


def _arrays(*shapes: tuple[int, ...], low: float = -1.0, high: float = 1.0, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    # Values exact in float32, so the float64 reference sees the very same numbers.
    return [rng.uniform(low, high, shape).astype(np.float32).astype(np.float64) for shape in shapes]


def _bn_eval(x: tg.Tensor, mean: tg.Tensor, var: tg.Tensor, w: tg.Tensor, b: tg.Tensor) -> tg.Tensor:
    return F.batch_norm(x, mean, var, w, b, training=False)


# name -> (function of the tensors, their arrays, which of them get gradients)
CASES: dict[str, tuple[Op, list[np.ndarray], list[bool]]] = {
    "add": (lambda a, b: a + b, _arrays((2, 3), (3,)), [True, True]),
    "sub": (lambda a, b: a - b, _arrays((2, 3), (2, 1)), [True, True]),
    "mul": (lambda a, b: a * b, _arrays((2, 3), (2, 3)), [True, True]),
    "div": (lambda a, b: a / b, [*_arrays((2, 3)), *_arrays((2, 3), low=1.0, high=2.0)], [True, True]),
    "pow": (lambda a, b: a**b, [*_arrays((2, 3), low=0.5, high=2.0), *_arrays((3,))], [True, True]),
    "maximum": (tg.maximum, _arrays((2, 3), (2, 3)), [True, True]),
    "minimum": (tg.minimum, _arrays((2, 3), (3,)), [True, True]),
    "matmul": (lambda a, b: a @ b, _arrays((2, 3), (3, 4)), [True, True]),
    "where": (lambda a, b: tg.where(np.array([True, False, True]), a, b), _arrays((2, 3), (3,)), [True, True]),
    "concatenate": (lambda a, b: tg.concatenate([a, b], axis=1), _arrays((2, 3), (2, 2)), [True, True]),
    "stack": (lambda a, b: tg.stack([a, b]), _arrays((2, 3), (2, 3)), [True, True]),
    "linear": (F.linear, _arrays((4, 3), (2, 3), (2,)), [True, True, True]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, padding=1), _arrays((1, 2, 4, 4), (3, 2, 3, 3), (3,)),
               [True, True, True]),
    "conv_transpose2d": (lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2),
                         _arrays((1, 2, 3, 3), (2, 3, 2, 2), (3,)), [True, True, True]),
    "mse_loss": (F.mse_loss, _arrays((3, 2), (3, 2)), [True, True]),
    "binary_cross_entropy": (F.binary_cross_entropy, _arrays((3, 2), (3, 2), low=0.1, high=0.9), [True, True]),
    "binary_cross_entropy_with_logits": (
        lambda x, t, w, pw: F.binary_cross_entropy_with_logits(x, t, w, pos_weight=pw),
        [*_arrays((3, 2)), *_arrays((3, 2), (3, 2), (2,), low=0.1, high=0.9)], [True, True, True, True]),
    "cross_entropy (probabilities)": (F.cross_entropy, [*_arrays((3, 4)), *_arrays((3, 4), low=0.0, high=0.5)],
                                      [True, True]),
    "batch_norm (training)": (lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                              _arrays((4, 3, 2, 2), (3,), (3,)), [True, True, True]),
    "batch_norm (eval)": (_bn_eval, [*_arrays((4, 3)), *_arrays((3,)), *_arrays((3,), (3,), (3,), low=0.5, high=2)],
                          [True, False, False, True, True]),
}


def _run(op: Op, arrays: list[np.ndarray], grads: list[bool], dtypes: tuple[type, ...]):
    tensors = [tg.Tensor(a.astype(d), requires_grad=g) for a, d, g in zip(arrays, dtypes, grads)]
    out = op(*tensors)
    upstream = np.linspace(-1.0, 1.0, out.numel()).reshape(out.shape)
    out.backward(upstream.astype(out.dtype))
    return out, tensors


@pytest.mark.parametrize("name", list(CASES))
def test_mixed_float32_and_float64_promote_to_float64(name: str) -> None:
    op, arrays, grads = CASES[name]
    reference, reference_inputs = _run(op, arrays, grads, (np.float64,) * len(arrays))
    mixes = [d for d in itertools.product((np.float32, np.float64), repeat=len(arrays)) if len(set(d)) == 2]
    for dtypes in mixes:
        out, tensors = _run(op, arrays, grads, dtypes)
        assert out.dtype == np.float64, f"{name} with {dtypes}: result {out.dtype}"
        np.testing.assert_allclose(out.data, reference.data, rtol=1e-12, atol=1e-12)
        for tensor, expected, dtype in zip(tensors, reference_inputs, dtypes):
            if not tensor.requires_grad:
                continue
            assert tensor.grad.dtype == dtype, f"{name} with {dtypes}: a {dtype} input got {tensor.grad.dtype}"
            np.testing.assert_allclose(tensor.grad.data, expected.grad.data.astype(dtype), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", list(CASES))
def test_all_float32_stays_float32(name: str) -> None:
    op, arrays, grads = CASES[name]
    out, tensors = _run(op, arrays, grads, (np.float32,) * len(arrays))
    assert out.dtype == np.float32
    assert all(t.grad.dtype == np.float32 for t in tensors if t.requires_grad)


def test_targets_given_as_data_follow_the_same_rule() -> None:
    x = tg.Tensor(np.array([0.25, 0.75], dtype=np.float32), requires_grad=True)
    # a float64 numpy array promotes, as in x - array; a list or ints take the input's dtype
    assert F.mse_loss(x, np.array([0.0, 1.0])).dtype == np.float64
    assert F.mse_loss(x, [0.0, 1.0]).dtype == np.float32
    assert F.binary_cross_entropy(x, np.array([0, 1])).dtype == np.float32
    assert (x - np.array([0.0, 1.0])).dtype == np.float64
