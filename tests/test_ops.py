"""Tests of every op in ops.py: forward values against numpy, gradients against
finite differences (gradcheck, gradgradcheck in float64, random upstream
gradient), dtype rules, edge semantics and error messages."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import ops

# ---------------------------------------------------------------------------
# Input makers: each returns a function rng -> float64 array.
# ---------------------------------------------------------------------------

Maker = Callable[[np.random.Generator], np.ndarray]


def normal(*shape: int) -> Maker:
    return lambda rng: rng.standard_normal(shape)


def positive(*shape: int) -> Maker:
    """Values in [0.5, 2]: for log, sqrt and powers with a real exponent."""
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def away_from(points: tuple[float, ...], *shape: int, margin: float = 0.1) -> Maker:
    """Values in [-2, 2] at least `margin` from every kink in `points`
    (finite differences across a kink measure neither side's slope)."""

    def make(rng: np.random.Generator) -> np.ndarray:
        x = rng.uniform(-2.0, 2.0, shape)
        for p in points:
            near = np.abs(x - p) < margin
            x = np.where(near, p + np.where(x >= p, margin, -margin) * 2, x)
        return x

    return make


def distinct(*shape: int) -> Maker:
    """All values at least 0.2 apart, so a reduction's maximum is unique."""

    def make(rng: np.random.Generator) -> np.ndarray:
        size = int(np.prod(shape))
        values = rng.permutation(size) * 0.3 - 0.15 * size + rng.uniform(0.0, 0.1, size)
        return values.reshape(shape)

    return make


def grid(offset: float, *shape: int) -> Maker:
    """Integers plus a fraction in [offset, offset + 0.2): two grids with offsets
    0 and 0.5 never come within 0.3 of each other (for maximum/minimum)."""
    return lambda rng: rng.integers(-2, 3, shape) + rng.uniform(offset, offset + 0.2, shape)


class Case(NamedTuple):
    """One op applied to inputs made by `makers`; `ref` computes it with numpy."""

    fn: Callable[..., tg.Tensor]
    ref: Callable[..., np.ndarray] | None
    makers: tuple[Maker, ...]


def case(id: str, fn, ref, *makers: Maker) -> Any:
    return pytest.param(Case(fn, ref, makers), id=id)


# ---------------------------------------------------------------------------
# The table: every op, several shapes. Shapes include 0-d tensors, size-1 axes,
# odd sizes and broadcasting between inputs of different ndim.
# ---------------------------------------------------------------------------

UNARY_SHAPES = [(), (1,), (5,), (2, 3), (3, 1, 2)]


def _unary_cases() -> list[Any]:
    cases = []
    for shape in UNARY_SHAPES:
        s = "x".join(map(str, shape)) or "0d"
        cases += [
            case(f"neg-{s}", lambda x: -x, lambda x: -x, normal(*shape)),
            case(f"exp-{s}", tg.exp, np.exp, normal(*shape)),
            case(f"log-{s}", tg.log, np.log, positive(*shape)),
            case(f"sqrt-{s}", tg.sqrt, np.sqrt, positive(*shape)),
            case(f"abs-{s}", tg.abs, np.abs, away_from((0.0,), *shape)),
            case(f"sigmoid-{s}", tg.sigmoid, lambda x: 1 / (1 + np.exp(-x)), normal(*shape)),
            case(f"tanh-{s}", tg.tanh, np.tanh, normal(*shape)),
            case(f"relu-{s}", tg.relu, lambda x: np.maximum(x, 0), away_from((0.0,), *shape)),
            case(f"clip-{s}", lambda x: x.clip(-0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7),
                 away_from((-0.5, 0.7), *shape)),
            case(f"clip_lo-{s}", lambda x: tg.clip(x, lo=0.3), lambda x: np.maximum(x, 0.3),
                 away_from((0.3,), *shape)),
            case(f"clip_hi-{s}", lambda x: tg.clip(x, hi=-0.2), lambda x: np.minimum(x, -0.2),
                 away_from((-0.2,), *shape)),
            case(f"square-{s}", lambda x: x**2, lambda x: x**2, normal(*shape)),
            case(f"cube-{s}", lambda x: x**3, lambda x: x**3, normal(*shape)),
            case(f"reciprocal-{s}", lambda x: x**-1, lambda x: 1 / x, away_from((0.0,), *shape, margin=0.3)),
            case(f"pow_real-{s}", lambda x: x**1.7, lambda x: x**1.7, positive(*shape)),
            case(f"pow_zero-{s}", lambda x: x**0, lambda x: x**0, normal(*shape)),
            case(f"rpow-{s}", lambda x: 2.0**x, lambda x: 2.0**x, normal(*shape)),
            case(f"scalar_ops-{s}", lambda x: (3.0 - x) * 2.5 / (x * x + 1.0) + 1,
                 lambda x: (3.0 - x) * 2.5 / (x * x + 1.0) + 1, normal(*shape)),
            case(f"rtruediv-{s}", lambda x: 1.5 / x, lambda x: 1.5 / x, away_from((0.0,), *shape, margin=0.3)),
        ]
    return cases


# Pairs of shapes that broadcast, including different ndim and 0-d.
BINARY_SHAPES = [((), ()), ((4,), ()), ((), (3,)), ((2, 3), (3,)), ((2, 1, 3), (4, 1)), ((1,), (2, 3)),
                 ((5,), (5,)), ((3, 1), (1, 2))]


def _binary_cases() -> list[Any]:
    cases = []
    for sa, sb in BINARY_SHAPES:
        s = ("x".join(map(str, sa)) or "0d") + "_" + ("x".join(map(str, sb)) or "0d")
        cases += [
            case(f"add-{s}", lambda a, b: a + b, np.add, normal(*sa), normal(*sb)),
            case(f"sub-{s}", lambda a, b: a - b, np.subtract, normal(*sa), normal(*sb)),
            case(f"mul-{s}", lambda a, b: a * b, np.multiply, normal(*sa), normal(*sb)),
            case(f"div-{s}", lambda a, b: a / b, np.divide, normal(*sa), away_from((0.0,), *sb, margin=0.3)),
            case(f"pow-{s}", lambda a, b: a**b, np.power, positive(*sa), normal(*sb)),
            case(f"maximum-{s}", tg.maximum, np.maximum, grid(0.0, *sa), grid(0.5, *sb)),
            case(f"minimum-{s}", tg.minimum, np.minimum, grid(0.0, *sa), grid(0.5, *sb)),
        ]
    return cases


REDUCE_INPUTS = [
    ((2, 3, 4), None), ((2, 3, 4), 0), ((2, 3, 4), -1), ((2, 3, 4), (0, 2)), ((2, 3, 4), (-1, -2)),
    ((5,), 0), ((5,), None), ((), None), ((1, 3), 0), ((3, 1), 1),
]


def _reduce_cases() -> list[Any]:
    cases = []
    for shape, axis in REDUCE_INPUTS:
        for keepdims in (False, True):
            s = f"{'x'.join(map(str, shape)) or '0d'}-axis{axis}-keep{int(keepdims)}"
            kw = {"axis": axis, "keepdims": keepdims}
            cases += [
                case(f"sum-{s}", lambda x, kw=kw: x.sum(**kw), lambda x, kw=kw: np.sum(x, **kw), normal(*shape)),
                case(f"mean-{s}", lambda x, kw=kw: x.mean(**kw), lambda x, kw=kw: np.mean(x, **kw), normal(*shape)),
                case(f"max-{s}", lambda x, kw=kw: x.max(**kw), lambda x, kw=kw: np.max(x, **kw), distinct(*shape)),
                case(f"min-{s}", lambda x, kw=kw: x.min(**kw), lambda x, kw=kw: np.min(x, **kw), distinct(*shape)),
                case(f"var-{s}", lambda x, kw=kw: x.var(**kw), lambda x, kw=kw: np.var(x, **kw), normal(*shape)),
            ]
    cases += [
        case("var_ddof1-2x3x4-axis1", lambda x: x.var(axis=1, ddof=1), lambda x: np.var(x, axis=1, ddof=1),
             normal(2, 3, 4)),
        case("var_ddof1-5", lambda x: x.var(ddof=1), lambda x: np.var(x, ddof=1), normal(5)),
        case("sum-empty-axis-tuple", lambda x: x.sum(axis=()), lambda x: np.sum(x, axis=()), normal(2, 3)),
    ]
    return cases


MATMUL_SHAPES = [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((1, 1), (1, 1)),
                 ((2, 2, 3), (3, 4)), ((3,), (2, 3, 4)), ((2, 3, 4), (4,)), ((2, 1, 3, 4), (5, 4, 2)),
                 ((4, 3, 5), (4, 5, 1))]


def _matmul_cases() -> list[Any]:
    return [
        case(f"matmul-{'x'.join(map(str, sa))}@{'x'.join(map(str, sb))}", lambda a, b: a @ b, np.matmul,
             normal(*sa), normal(*sb))
        for sa, sb in MATMUL_SHAPES
    ]


def _shape_cases() -> list[Any]:
    return [
        case("reshape-flat", lambda x: x.reshape(-1), lambda x: x.reshape(-1), normal(2, 3)),
        case("reshape-args", lambda x: x.reshape(3, 1, 2), lambda x: x.reshape(3, 1, 2), normal(2, 3)),
        case("reshape-tuple", lambda x: x.reshape((2, -1)), lambda x: x.reshape((2, -1)), normal(3, 2, 1)),
        case("reshape-0d", lambda x: x.reshape(1, 1), lambda x: x.reshape(1, 1), normal()),
        case("transpose-reverse", lambda x: x.transpose(), lambda x: x.transpose(), normal(2, 3, 4)),
        case("transpose-axes", lambda x: x.transpose(1, 0, 2), lambda x: x.transpose(1, 0, 2), normal(2, 3, 4)),
        case("transpose-negative", lambda x: x.transpose((-1, 0, 1)), lambda x: x.transpose(2, 0, 1),
             normal(2, 3, 4)),
        case("permute", lambda x: x.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1), normal(2, 3, 4)),
        case("T", lambda x: x.T, lambda x: x.T, normal(2, 3)),
        case("swapaxes", lambda x: x.swapaxes(0, -1), lambda x: x.swapaxes(0, -1), normal(2, 3, 4)),
        case("flatten", lambda x: x.flatten(), lambda x: x.reshape(-1), normal(2, 3, 4)),
        case("flatten-from1", lambda x: x.flatten(1), lambda x: x.reshape(2, -1), normal(2, 3, 4)),
        case("broadcast_to", lambda x: x.broadcast_to(2, 3, 4), lambda x: np.broadcast_to(x, (2, 3, 4)),
             normal(3, 1)),
        case("broadcast_to-0d", lambda x: x.broadcast_to((3,)), lambda x: np.broadcast_to(x, (3,)), normal()),
        case("squeeze-all", lambda x: x.squeeze(), lambda x: x.squeeze(), normal(1, 3, 1)),
        case("squeeze-axis", lambda x: x.squeeze(-1), lambda x: x.squeeze(-1), normal(1, 3, 1)),
        case("unsqueeze-front", lambda x: x.unsqueeze(0), lambda x: x[None], normal(2, 3)),
        case("unsqueeze-end", lambda x: x.unsqueeze(-1), lambda x: x[..., None], normal(2, 3)),
        case("pad-int", lambda x: x.pad(1), lambda x: np.pad(x, 1), normal(2, 3)),
        case("pad-pairs", lambda x: tg.pad(x, ((1, 0), (0, 2)), value=-1.0),
             lambda x: np.pad(x, ((1, 0), (0, 2)), constant_values=-1.0), normal(2, 3)),
        case("pad-nchw", lambda x: x.pad(((0, 0), (0, 0), (1, 1), (2, 2))),
             lambda x: np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2))), normal(1, 2, 2, 3)),
    ]


MASK = np.array([[True, False, True], [False, False, True]])


def _index_cases() -> list[Any]:
    indices = [
        ("int", 1), ("negative-int-and-step", (-1, slice(None, None, 2))),
        ("none-ellipsis", (None, ..., slice(1, None))),
        ("reverse", slice(None, None, -1)), ("repeated-ints", [0, 0, 1, 0]),
        ("int-array-2d", np.array([[0, 1], [1, 1]])), ("mask", MASK), ("column-array", (slice(None), [2, 0, 2])),
        ("scalar-element", (0, 2)), ("trailing-none", (..., None)), ("mixed-arrays", (np.array([1, 0, 1]), [2, 2, 0])),
    ]
    return [case(f"getitem-{name}", lambda x, i=i: x[i], lambda x, i=i: x[i], normal(2, 3)) for name, i in indices]


def _join_cases() -> list[Any]:
    cond = np.array([[True, False, True], [False, True, True]])
    return [
        case("where", lambda a, b: tg.where(cond, a, b), lambda a, b: np.where(cond, a, b), normal(2, 3),
             normal(2, 3)),
        case("where-broadcast", lambda a, b: tg.where(cond[0], a, b), lambda a, b: np.where(cond[0], a, b),
             normal(2, 1), normal(3)),
        case("where-scalar", lambda a: tg.where(cond, a, 0.0), lambda a: np.where(cond, a, 0.0), normal(2, 3)),
        case("concatenate-0", lambda a, b: tg.concatenate([a, b]), lambda a, b: np.concatenate([a, b]),
             normal(2, 3), normal(1, 3)),
        case("concatenate-last3", lambda a, b, c: tg.concatenate([a, b, c], axis=-1),
             lambda a, b, c: np.concatenate([a, b, c], axis=-1), normal(2, 1), normal(2, 3), normal(2, 2)),
        case("stack-0", lambda a, b: tg.stack([a, b]), lambda a, b: np.stack([a, b]), normal(2, 3), normal(2, 3)),
        case("stack-last", lambda a, b: tg.stack([a, b], axis=-1), lambda a, b: np.stack([a, b], axis=-1),
             normal(3), normal(3)),
        case("stack-0d", lambda a, b: tg.stack([a, b]), lambda a, b: np.stack([a, b]), normal(), normal()),
        case("cast-roundtrip", lambda x: (x.astype(np.longdouble) * 2.0).astype(x.dtype), lambda x: x * 2.0,
             normal(2, 3)),
        case("sum_to", lambda x: ops.sum_to(x, (3, 1)), lambda x: x.sum(axis=(0, 2), keepdims=True)[0],
             normal(2, 3, 4)),
    ]


def _composite_cases() -> list[Any]:
    def mlp(x, w1, w2):
        return (x @ w1).tanh() @ w2

    return [
        case("mlp", mlp, lambda x, w1, w2: np.tanh(x @ w1) @ w2, normal(4, 3), normal(3, 5), normal(5, 2)),
        case("softmax-like", lambda x: (x - x.max(axis=-1, keepdims=True)).exp().sum(axis=-1).log(),
             lambda x: np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1)), distinct(3, 4)),
        case("shared-input", lambda x: x * x.sigmoid() + x.abs().sqrt(),
             lambda x: x / (1 + np.exp(-x)) + np.sqrt(np.abs(x)), away_from((0.0,), 2, 3, margin=0.3)),
    ]


ALL_CASES = (_unary_cases() + _binary_cases() + _reduce_cases() + _matmul_cases() + _shape_cases()
             + _index_cases() + _join_cases() + _composite_cases())


def _inputs(c: Case, rng: np.random.Generator, dtype: Any = np.float64) -> list[tg.Tensor]:
    return [tg.Tensor(np.asarray(make(rng), dtype=dtype), requires_grad=True) for make in c.makers]


# ---------------------------------------------------------------------------
# Forward values, gradients, second derivatives, for every case
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("c", ALL_CASES)
def test_forward_matches_numpy(c: Case, rng: np.random.Generator) -> None:
    xs = _inputs(c, rng)
    out = c.fn(*xs)
    expected = c.ref(*[x.data.copy() for x in xs])
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("c", ALL_CASES)
def test_gradcheck(c: Case, rng: np.random.Generator) -> None:
    assert tg.gradcheck(c.fn, _inputs(c, rng))


@pytest.mark.parametrize("c", ALL_CASES)
def test_gradgradcheck(c: Case, rng: np.random.Generator) -> None:
    # Piecewise-linear ops (relu, abs, max, clip, maximum) are included: their
    # VJPs are differentiable away from the kinks, with second derivative 0.
    assert tg.gradgradcheck(c.fn, _inputs(c, rng))


@pytest.mark.parametrize("c", ALL_CASES)
def test_gradient_shape_and_dtype_match_input(c: Case, rng: np.random.Generator) -> None:
    xs = _inputs(c, rng, dtype=np.float32)
    out = c.fn(*xs)
    assert out.dtype == np.float32, "a Python scalar or the op itself upcast float32"
    out.backward(rng.standard_normal(out.shape).astype(np.float32))
    for x in xs:
        assert x.grad is not None
        assert x.grad.shape == x.shape
        assert x.grad.dtype == np.float32


# ---------------------------------------------------------------------------
# Dtype rules
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("expr", [
    lambda x: x + 1.5, lambda x: 1.5 + x, lambda x: x - 2, lambda x: 2 - x, lambda x: x * 3.0, lambda x: 3 * x,
    lambda x: x / 7.0, lambda x: 7 / x, lambda x: x**2, lambda x: x**0.5, lambda x: 2.0**x, lambda x: -x,
    lambda x: x + np.float64(1.0), lambda x: tg.maximum(x, 0.0), lambda x: tg.where(x.data > 0, x, 0.0),
    lambda x: x.mean(), lambda x: x.var(),
])
def test_python_scalar_never_upcasts_float32(expr: Callable) -> None:
    x = tg.Tensor(np.array([0.5, 1.5, 2.5], dtype=np.float32), requires_grad=True)
    assert expr(x).dtype == np.float32


@pytest.mark.parametrize("da, db", [(np.float32, np.float64), (np.int64, np.float32), (np.int32, np.int64),
                                    (np.float16, np.float32), (np.bool_, np.int64)])
def test_two_tensors_promote_as_in_pytorch(da: Any, db: Any) -> None:
    # numpy's rule, except that an integer tensor with a float tensor takes the
    # float's dtype (numpy: int64 with float32 is float64; PyTorch: float32).
    a = tg.Tensor(np.ones(3, dtype=da))
    b = tg.Tensor(np.ones(3, dtype=db))
    kinds = {np.dtype(da).kind, np.dtype(db).kind}
    if "f" in kinds and len(kinds) == 2:
        expected = da if np.dtype(da).kind == "f" else db
    else:
        expected = np.result_type(da, db)
    assert (a + b).dtype == expected
    assert (b * a).dtype == expected


def test_gradient_is_cast_back_to_each_input_dtype() -> None:
    a = tg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    b = tg.Tensor(np.full(3, 2.0), requires_grad=True)  # float64
    (a * b).sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_array_equal(a.grad.data, [2, 2, 2])


def test_astype_gradient_returns_to_the_input_dtype() -> None:
    x = tg.Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = x.astype(np.float64)
    assert y.dtype == np.float64 and y.grad_fn is not None
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.data, [2.0, 4.0])
    assert x.astype(np.float32) is x
    assert x.astype(np.int64).requires_grad is False


def test_ndarray_on_the_left_keeps_the_graph() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0], dtype=np.float32) * x + np.float32(1.0)
    assert isinstance(y, tg.Tensor) and y.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 4.0])


def test_comparisons_give_boolean_tensors_without_gradient() -> None:
    x = tg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result in (x > 2, x >= 2, x < 2, x <= 2, x == 2, x != 2):
        assert result.dtype == np.bool_ and not result.requires_grad
    np.testing.assert_array_equal((x > 1.5).data, [False, True, True])


# ---------------------------------------------------------------------------
# Semantics at kinks, ties and extremes
# ---------------------------------------------------------------------------


def test_relu_and_abs_have_zero_gradient_at_zero() -> None:
    x = tg.Tensor([-1.0, 0.0, 2.0], requires_grad=True)
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 1.0])
    x.grad = None
    x.abs().sum().backward()
    np.testing.assert_array_equal(x.grad.data, [-1.0, 0.0, 1.0])


def test_clip_gradient_is_one_inside_including_bounds() -> None:
    x = tg.Tensor([-2.0, -1.0, 0.0, 1.0, 2.0], requires_grad=True)
    x.clip(-1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0, 1, 1, 1, 0])


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_max_min_send_gradient_to_first_extreme_of_each_slice(reduce: str) -> None:
    sign = 1.0 if reduce == "max" else -1.0
    data = sign * np.array([[1.0, 3.0, 3.0], [5.0, 5.0, 5.0]])
    x = tg.Tensor(data, requires_grad=True)
    getattr(x, reduce)(axis=1).backward(np.array([10.0, 20.0]))
    np.testing.assert_array_equal(x.grad.data, [[0, 10, 0], [20, 0, 0]])
    x.grad = None
    getattr(x, reduce)().backward()  # over everything: one position only
    assert x.grad.data.sum() == 1.0
    assert x.grad.data.reshape(-1).argmax() == (sign * data).reshape(-1).argmax()


def test_max_over_several_axes_picks_one_position_per_slice() -> None:
    x = tg.Tensor(np.zeros((2, 3, 2)), requires_grad=True)  # all tied
    x.max(axis=(0, 2)).sum().backward()
    assert x.grad.data.sum() == 3.0
    np.testing.assert_array_equal(x.grad.data[0, :, 0], [1, 1, 1])


def test_maximum_minimum_split_ties_evenly() -> None:
    a = tg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = tg.Tensor([3.0, 2.0, 1.0], requires_grad=True)
    tg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [0, 0.5, 1])
    np.testing.assert_array_equal(b.grad.data, [1, 0.5, 0])
    a.grad = b.grad = None
    tg.minimum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [1, 0.5, 0])


def test_pow_exponent_gets_gradient_only_when_it_requires_grad() -> None:
    x = tg.Tensor([2.0, 3.0], requires_grad=True)
    y = tg.Tensor([3.0, 0.5], requires_grad=True)
    (x**y).sum().backward()
    np.testing.assert_allclose(y.grad.data, [8 * np.log(2.0), np.sqrt(3.0) * np.log(3.0)], rtol=1e-6)
    np.testing.assert_allclose(x.grad.data, [3 * 4.0, 0.5 / np.sqrt(3.0)], rtol=1e-6)
    constant = tg.Tensor([3.0, 0.5])
    x.grad = None
    (x**constant).sum().backward()
    assert constant.grad is None


def test_pow_with_negative_base_and_constant_exponent_is_silent() -> None:
    x = tg.Tensor([-2.0, -0.5, 0.0, 1.5], requires_grad=True)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        (x**2 + x**3 + x**0).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * x.data + 3 * x.data**2)


def test_pow_zero_exponent_has_zero_gradient_at_zero() -> None:
    x = tg.Tensor([0.0, 2.0], requires_grad=True)
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])


EXTREMES = [-1e30, -1e4, -100.0, -1.0, 0.0, 1.0, 100.0, 1e4, 1e30]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["sigmoid", "tanh", "exp"])
def test_extreme_inputs_do_not_overflow_or_warn(op: str, dtype: Any) -> None:
    x = tg.Tensor(np.array(EXTREMES, dtype=dtype), requires_grad=True)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        y = getattr(x, op)()
        y.backward(np.ones(len(EXTREMES), dtype=dtype))
    assert y.dtype == dtype and x.grad.dtype == dtype
    if op == "sigmoid":
        np.testing.assert_array_equal(y.data[[0, 1, -2, -1]], [0, 0, 1, 1])
        assert np.isfinite(x.grad.data).all()
    if op == "tanh":
        np.testing.assert_array_equal(y.data[[0, -1]], [-1, 1])
        assert np.isfinite(x.grad.data).all()
    if op == "exp":
        assert y.data[0] == 0 and y.data[-1] == np.inf


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_of_extreme_inputs_is_silent(dtype: Any) -> None:
    x = tg.Tensor(np.array([0.0, 1e-38, 1.0, 1e30, np.inf], dtype=dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = x.log()
        y.backward(np.ones(5, dtype=dtype))
    assert y.data[0] == -np.inf and y.data[-1] == np.inf
    assert np.isfinite(y.data[1:-1]).all()
    assert x.grad.data[0] == np.inf and x.grad.data[-1] == 0


# ---------------------------------------------------------------------------
# Forward details not covered by the table
# ---------------------------------------------------------------------------


def test_getitem_repeated_indices_accumulate() -> None:
    x = tg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].backward(np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(x.grad.data, [7.0, 0.0, 3.0])


def test_getitem_with_tensor_indices_and_masks() -> None:
    x = tg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    np.testing.assert_array_equal(x[tg.Tensor([1, 0])].data, x.data[[1, 0]])
    np.testing.assert_array_equal(x[x > 2].data, [3.0, 4.0, 5.0])
    x[x > 2].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 0, 0], [1, 1, 1]])


def test_iterating_a_tensor_gives_rows() -> None:
    x = tg.Tensor(np.arange(6.0).reshape(3, 2))
    rows = list(x)
    assert len(rows) == 3 and rows[2].shape == (2,)


def test_concatenate_input_without_grad_gets_none() -> None:
    a = tg.Tensor(np.ones((2, 2)), requires_grad=True)
    b = tg.Tensor(np.ones((1, 2)))
    tg.concatenate([a, b]).sum().backward()
    assert a.grad.shape == (2, 2) and b.grad is None


def test_reshape_transpose_identity_return_the_same_tensor() -> None:
    x = tg.randn(2, 3)
    assert x.reshape(2, 3) is x
    assert x.transpose((0, 1)) is x  # a permutation given as one tuple is numpy's, unambiguous
    assert tg.randn(2, 3, 4).transpose(0, 1, 2).shape == (2, 3, 4)
    assert x.broadcast_to(2, 3) is x


def test_argmax_argmin_give_first_index_without_gradient() -> None:
    x = tg.Tensor([[1.0, 3.0, 3.0], [0.0, -1.0, -1.0]], requires_grad=True)
    np.testing.assert_array_equal(x.argmax(axis=1).data, [1, 0])
    np.testing.assert_array_equal(x.argmin(axis=1).data, [0, 1])
    assert x.argmax().item() == 1 and not x.argmax().requires_grad


def test_matmul_results_match_numpy_shapes_for_vectors() -> None:
    a, b = tg.randn(3), tg.randn(3)
    assert (a @ b).shape == ()
    assert (tg.randn(4, 3) @ b).shape == (4,)
    assert (a @ tg.randn(2, 3, 5)).shape == (2, 5)


def test_matmul_with_a_transposed_right_operand() -> None:
    """x @ w.T (a linear layer) computes dL/d(w.T) in w.T's own layout, so
    that w.grad comes out C-ordered like w: the VJP must still be exact."""
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((5, 4)), requires_grad=True)
    w = tg.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert tg.gradcheck(lambda x, w: x @ w.T, (x, w))
    assert tg.gradgradcheck(lambda x, w: x @ w.T, (x, w))
    g = rng.standard_normal((5, 3))
    (x @ w.T).backward(g)
    np.testing.assert_allclose(w.grad.data, g.T @ x.data, rtol=1e-12)
    assert w.grad.data.flags.c_contiguous


# ---------------------------------------------------------------------------
# Errors name the op, the argument and the shapes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("thunk, error, pattern", [
    (lambda: tg.randn(2, 3) @ tg.randn(2, 3), ValueError, r"matmul.*\(2, 3\).*\(2, 3\)"),
    (lambda: tg.randn(3) @ tg.randn(4), ValueError, r"matmul.*\(3,\).*\(4,\)"),
    (lambda: tg.randn(2, 2, 3) @ tg.randn(3, 3, 4), ValueError, r"matmul.*\(2, 2, 3\).*\(3, 3, 4\)"),
    (lambda: tg.randn(()) @ tg.randn(3), ValueError, r"matmul.*\(\).*\(3,\)"),
    (lambda: tg.randn(2, 3) + tg.randn(4), ValueError, r"add.*\(2, 3\).*\(4,\)"),
    (lambda: tg.randn(2, 3) * tg.randn(3, 2), ValueError, r"mul.*\(2, 3\).*\(3, 2\)"),
    (lambda: tg.maximum(tg.randn(2), tg.randn(3)), ValueError, r"maximum.*\(2,\).*\(3,\)"),
    (lambda: tg.randn(2, 3).reshape(4, 2), ValueError, r"reshape.*\(2, 3\).*\(4, 2\)"),
    (lambda: tg.randn(2, 3).reshape(-1, -1), ValueError, r"reshape.*\(2, 3\)"),
    (lambda: tg.concatenate([tg.randn(2, 3), tg.randn(2, 4)]), ValueError, r"concatenate.*\(2, 4\)"),
    (lambda: tg.concatenate([tg.randn(2, 3), tg.randn(3)]), ValueError, r"concatenate.*\(3,\)"),
    (lambda: tg.concatenate([]), ValueError, r"concatenate"),
    (lambda: tg.stack([tg.randn(2), tg.randn(3)]), ValueError, r"stack.*\(3,\).*\(2,\)"),
    (lambda: tg.randn(2, 3).broadcast_to(4, 3), ValueError, r"broadcast_to.*\(2, 3\).*\(4, 3\)"),
    (lambda: tg.randn(2, 3).transpose(1, 2), ValueError, r"transpose.*\(2, 3\)"),
    (lambda: tg.randn(2, 3).transpose(0, 0), ValueError, r"transpose"),
    (lambda: tg.randn(2, 3).squeeze(0), ValueError, r"squeeze.*\(2, 3\)"),
    (lambda: tg.randn(2, 3).unsqueeze(4), ValueError, r"unsqueeze"),
    (lambda: tg.randn(2, 3).sum(axis=2), ValueError, r"sum: axis 2"),
    (lambda: tg.randn(2, 3).max(axis=(0, 0)), ValueError, r"max: repeated axis"),
    (lambda: tg.randn(0).max(), ValueError, r"max.*empty"),
    (lambda: tg.randn(3).var(ddof=3), ValueError, r"var: ddof=3"),
    (lambda: tg.randn(2, 3).pad(((1, 1), (1, 1), (1, 1))), ValueError, r"pad.*\(2, 3\)"),
    (lambda: tg.randn(2, 3).pad(-1), ValueError, r"pad.*negative"),
    (lambda: tg.randn(3).clip(1.0, -1.0), ValueError, r"clip: lo=1.0"),
    (lambda: tg.randn(3).clip(), ValueError, r"clip"),
    (lambda: tg.where(np.ones((2, 2), bool), tg.randn(3), tg.randn(3)), ValueError, r"where.*\(2, 2\).*\(3,\)"),
    (lambda: tg.Tensor([1, 2]) ** -1, ValueError, r"pow.*int64"),
    (lambda: tg.randn(3) + "a", TypeError, r"add.*str"),
    (lambda: "a" * tg.randn(3), TypeError, r"mul.*str"),
    (lambda: tg.randn(3) @ [1.0, 2.0, 3.0], TypeError, r"matmul.*list"),
    (lambda: tg.randn(3)[np.array([0.5])], TypeError, r"getitem.*float64"),
    (lambda: tg.randn(3)[5], IndexError, r"getitem.*\(3,\)"),
])
def test_bad_input_raises_clear_error(thunk: Callable, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        thunk()


def test_a_boolean_mask_times_a_float_tensor_keeps_the_float_dtype():
    # As in PyTorch; numpy does it without converting the mask first (ReLU's backward relies on it).
    mask = tg.Tensor(np.array([True, False, True]))
    for dtype in (np.float16, np.float32, np.float64):
        x = tg.Tensor(np.full(3, 2.0, dtype))
        assert (x * mask).dtype == dtype and (mask * x).dtype == dtype
        assert (x * mask).tolist() == [2.0, 0.0, 2.0]
    integers = tg.Tensor(np.arange(3))
    assert (tg.Tensor(np.ones(3, np.float32)) * integers).dtype == np.float32  # integers take the float dtype
