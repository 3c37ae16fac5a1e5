"""Property-based tests of the ops, with hypothesis: random shapes, broadcasting
pairs, axes (negative, tuples, keepdims), slices (steps, negative indices) and
short chains of ops. Values are compared with numpy; gradients are checked
against finite differences (gradcheck) in float64.

The number of examples is fixed and the examples are derandomized (the
"default" profile in conftest.py), so the suite stays fast and repeatable; run
`pytest tests/test_properties.py --hypothesis-profile slow` for many more.

Values are drawn on a grid of 0.01 and distinct within a test where it matters
(maximum, max, abs, relu): the finite-difference step of gradcheck (1e-6) never
crosses a tie or a kink, so a failure is a real gradient bug.
"""

from __future__ import annotations

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import tinygrad_cnn as tg  # noqa: E402
from tinygrad_cnn import functional as F  # noqa: E402
from tinygrad_cnn.tensor import Tensor  # noqa: E402

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


@st.composite
def distinct_values(draw, shapes, low=-3.0, high=3.0):
    """One float64 array per shape, all values distinct and at least 0.01 apart."""
    total = int(sum(np.prod(shape, dtype=np.int64) for shape in shapes))
    grid = draw(hnp.arrays(np.int64, total, elements=st.integers(int(low * 100), int(high * 100)), unique=True))
    values = grid / 100.0
    arrays, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape, dtype=np.int64))
        arrays.append(values[start:start + size].reshape(shape))
        start += size
    return arrays


def leaf(array: np.ndarray) -> Tensor:
    return Tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def assert_matches(out: Tensor, expected: np.ndarray) -> None:
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------
# Broadcasting binary ops
# ---------------------------------------------------------------------------

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a**b, np.power),
    "maximum": (tg.maximum, np.maximum),
    "minimum": (tg.minimum, np.minimum),
}


@given(name=st.sampled_from(sorted(BINARY)),
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, min_side=1, max_side=4),
       data=st.data())
def test_broadcasting_binary_ops(name, shapes, data):
    op, reference = BINARY[name]
    a, b = data.draw(distinct_values(shapes.input_shapes))
    if name in ("div", "pow"):
        # Positive bases for pow, divisors away from 0 for div.
        a, b = (np.abs(a) + 0.5, b) if name == "pow" else (a, np.abs(b) + 0.5)
    ta, tb = leaf(a), leaf(b)
    assert_matches(op(ta, tb), reference(a, b))
    assert tg.gradcheck(op, [ta, tb])


@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, min_side=1, max_side=4),
       scalar=st.floats(-3, 3, allow_nan=False).filter(lambda v: abs(v) > 0.1), data=st.data())
def test_binary_ops_with_python_scalars(shapes, scalar, data):
    (a,) = data.draw(distinct_values(shapes.input_shapes[:1]))
    x = leaf(a)
    for op, expected in ((x + scalar, a + scalar), (scalar - x, scalar - a), (x * scalar, a * scalar),
                         (x / scalar, a / scalar)):
        assert_matches(op, expected)
    assert tg.gradcheck(lambda t: (scalar * t - t / scalar) * (t + scalar), [x])


@given(shape_a=SHAPES, shape_b=SHAPES)
def test_unbroadcastable_pairs_raise_a_message_naming_the_op(shape_a, shape_b):
    try:
        np.broadcast_shapes(shape_a, shape_b)
    except ValueError:
        pass
    else:
        hypothesis.assume(False)  # only pairs that do not broadcast
    a, b = Tensor(np.ones(shape_a)), Tensor(np.ones(shape_b))
    for name, op in (("add", lambda: a + b), ("mul", lambda: a * b), ("div", lambda: a / b),
                     ("maximum", lambda: tg.maximum(a, b)), ("minimum", lambda: tg.minimum(a, b)),
                     (r"lt \(<\)", lambda: a < b)):
        with pytest.raises(ValueError, match=rf"^{name}: shapes .* cannot be broadcast together"):
            op()


# ---------------------------------------------------------------------------
# Unary ops
# ---------------------------------------------------------------------------

UNARY = {
    "exp": (tg.exp, np.exp, False),
    "log": (tg.log, np.log, True),
    "sqrt": (tg.sqrt, np.sqrt, True),
    "sigmoid": (tg.sigmoid, lambda v: 1 / (1 + np.exp(-v)), False),
    "tanh": (tg.tanh, np.tanh, False),
    "abs": (tg.abs, np.abs, False),
    "relu": (tg.relu, lambda v: np.maximum(v, 0), False),
    "neg": (lambda t: -t, np.negative, False),
    "softplus": (F.softplus, lambda v: np.log1p(np.exp(v)), False),
}


@given(name=st.sampled_from(sorted(UNARY)), shape=SHAPES, data=st.data())
def test_unary_ops(name, shape, data):
    op, reference, positive = UNARY[name]
    (a,) = data.draw(distinct_values([shape]))
    if positive:
        a = np.abs(a) + 0.1
    else:
        a = np.where(a == 0, 0.005, a)  # off the kink of abs and relu
    x = leaf(a)
    assert_matches(op(x), reference(a))
    assert tg.gradcheck(op, [x])


@given(name=st.sampled_from(["exp", "log", "sqrt", "sigmoid", "tanh"]), shape=SHAPES,
       dtype=st.sampled_from([np.int64, np.int32, np.uint8, np.bool_]), data=st.data())
def test_float_ops_of_integer_tensors_equal_the_ops_of_their_float32_values(name, shape, dtype, data):
    values = data.draw(hnp.arrays(dtype, shape, elements=st.integers(0, 1) if dtype is np.bool_
                                  else st.integers(1, 50)))
    op = UNARY[name][0]
    out = op(Tensor(values))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, op(Tensor(values.astype(np.float32))).data)


# ---------------------------------------------------------------------------
# Reductions over axes
# ---------------------------------------------------------------------------


@st.composite
def shape_and_axis(draw, allow_none=True):
    """A shape, and an axis for it: None, an int (negatives too) or a tuple of distinct axes."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    ndim = len(shape)
    choices = [st.integers(-ndim, ndim - 1),
               st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim,
                        unique_by=lambda a: a % ndim).map(tuple)]
    if allow_none:
        choices.append(st.none())
    return shape, draw(st.one_of(*choices))


REDUCTIONS = {
    "sum": (lambda t, axis, keep: t.sum(axis=axis, keepdims=keep), np.sum),
    "mean": (lambda t, axis, keep: t.mean(axis=axis, keepdims=keep), np.mean),
    "max": (lambda t, axis, keep: t.max(axis=axis, keepdims=keep), np.max),
    "min": (lambda t, axis, keep: t.min(axis=axis, keepdims=keep), np.min),
    "var": (lambda t, axis, keep: t.var(axis=axis, keepdims=keep), np.var),
}


@given(name=st.sampled_from(sorted(REDUCTIONS)), shape_axis=shape_and_axis(), keepdims=st.booleans(),
       data=st.data())
def test_reductions_over_random_axes(name, shape_axis, keepdims, data):
    shape, axis = shape_axis
    op, reference = REDUCTIONS[name]
    (a,) = data.draw(distinct_values([shape]))
    x = leaf(a)
    assert_matches(op(x, axis, keepdims), reference(a, axis=axis, keepdims=keepdims))
    assert tg.gradcheck(lambda t: op(t, axis, keepdims), [x])


@given(shape_axis=shape_and_axis(allow_none=False), data=st.data())
def test_softmax_and_log_softmax_over_a_random_axis(shape_axis, data):
    shape, axis = shape_axis
    if isinstance(axis, tuple):
        axis = axis[0]
    (a,) = data.draw(distinct_values([shape]))
    shifted = a - a.max(axis=axis, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    x = leaf(a)
    assert_matches(F.log_softmax(x, axis=axis), log_p)
    np.testing.assert_allclose(F.softmax(x, axis=axis).data, np.exp(log_p), rtol=1e-12)
    assert tg.gradcheck(lambda t: F.softmax(t, axis=axis), [x])
    assert tg.gradcheck(lambda t: F.log_softmax(t, axis=axis), [x])


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3), data=st.data())
def test_sum_and_mean_of_shapes_with_empty_axes_match_numpy(shape, data):
    hypothesis.assume(0 in shape)
    ndim = len(shape)
    axis = data.draw(st.integers(-ndim, ndim - 1))
    x = leaf(np.zeros(shape))
    assert_matches(x.sum(axis=axis), np.zeros(shape).sum(axis=axis))
    if shape[axis % ndim] != 0:  # the mean over a non-empty axis (an empty axis gives nan)
        assert_matches(x.mean(axis=axis), np.zeros(shape).mean(axis=axis))
        assert x.max(axis=axis).shape == np.zeros(shape).max(axis=axis).shape
    (g,) = tg.grad(x.sum(axis=axis).sum(), [x])
    assert g.shape == shape


# ---------------------------------------------------------------------------
# Slices
# ---------------------------------------------------------------------------


@st.composite
def shape_and_index(draw):
    """A shape and a basic index for it: per axis a slice (steps, negative bounds) or an int."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    index = []
    for side in shape:
        bound = st.one_of(st.none(), st.integers(-side - 1, side + 1))
        step = st.one_of(st.none(), st.integers(-3, 3).filter(lambda s: s != 0))
        item = st.one_of(st.builds(slice, bound, bound, step), st.integers(-side, side - 1))
        index.append(draw(item))
    # Sometimes fewer items than axes, or an Ellipsis / None in front.
    cut = draw(st.integers(1, len(index)))
    prefix = draw(st.sampled_from([(), (Ellipsis,), (None,)]))
    if prefix == (Ellipsis,):
        return shape, prefix + tuple(index[len(index) - cut:])
    return shape, prefix + tuple(index[:cut])


@given(shape_index=shape_and_index(), data=st.data())
def test_slicing_matches_numpy_and_its_gradient_scatters_back(shape_index, data):
    shape, index = shape_index
    (a,) = data.draw(distinct_values([shape]))
    x = leaf(a)
    assert_matches(x[index], a[index])
    assert tg.gradcheck(lambda t: t[index], [x])
    # The gradient of a slice is zero outside it and the upstream values inside.
    (g,) = tg.grad(x[index].sum(), [x])
    expected = np.zeros(shape)
    expected[index] = 1.0
    np.testing.assert_array_equal(g.data, expected)


# ---------------------------------------------------------------------------
# Short chains of ops
# ---------------------------------------------------------------------------

# Each step: (name, tinygrad_cnn version, numpy version). All keep values
# bounded and away from kinks, so any chain of them can be gradient-checked.
CHAIN_STEPS = [
    ("tanh", tg.tanh, np.tanh),
    ("sigmoid", tg.sigmoid, lambda v: 1 / (1 + np.exp(-v))),
    ("affine", lambda t: t * 1.5 - 0.25, lambda v: v * 1.5 - 0.25),
    ("square", lambda t: t * t, lambda v: v * v),
    ("exp", lambda t: tg.exp(t * 0.5), lambda v: np.exp(v * 0.5)),
    ("softplus", F.softplus, lambda v: np.log1p(np.exp(v))),
    ("reverse", lambda t: t.transpose(), lambda v: v.transpose()),
    ("flatten", lambda t: t.reshape(-1), lambda v: v.reshape(-1)),
    ("sum_last", lambda t: t.sum(axis=-1, keepdims=True), lambda v: v.sum(axis=-1, keepdims=True)),
    ("mean_first", lambda t: t.mean(axis=0), lambda v: v.mean(axis=0)),
    ("softmax", lambda t: F.softmax(t, axis=-1), lambda v: np.exp(v) / np.exp(v).sum(axis=-1, keepdims=True)),
    ("flip", lambda t: t[::-1], lambda v: v[::-1]),
    ("unsqueeze", lambda t: t.unsqueeze(0), lambda v: v[None]),
]


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
       steps=st.lists(st.sampled_from(range(len(CHAIN_STEPS))), min_size=1, max_size=4),
       data=st.data())
def test_short_op_chains(shape, steps, data):
    (a,) = data.draw(distinct_values([shape], low=-1.0, high=1.0))
    other_shape = data.draw(st.sampled_from([(), (1,)]))
    (b,) = data.draw(distinct_values([other_shape], low=0.5, high=1.5))

    def chain(t, w):
        for k in steps:
            if t.ndim == 0 and CHAIN_STEPS[k][0] in ("sum_last", "mean_first", "flip", "softmax"):
                continue  # these need an axis
            t = CHAIN_STEPS[k][1](t)
        return t * w  # a broadcast product with a second input at the end

    def chain_np(v, w):
        for k in steps:
            if np.ndim(v) == 0 and CHAIN_STEPS[k][0] in ("sum_last", "mean_first", "flip", "softmax"):
                continue
            v = CHAIN_STEPS[k][2](v)
        return v * w

    x, w = leaf(a), leaf(b)
    np.testing.assert_allclose(chain(x, w).data, chain_np(a, b), rtol=1e-10, atol=1e-12)
    assert tg.gradcheck(chain, [x, w])
    assert tg.gradgradcheck(chain, [x, w])
