"""Tests of the gradient checker itself, with negative controls: a checker
that never fails proves nothing, so every kind of mistake it should catch is
made on purpose here."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import GradcheckError

# ---------------------------------------------------------------------------
# Deliberately wrong Functions
# ---------------------------------------------------------------------------


class _ExpWrongAtLastElement(tg.Function):
    """e^x with a VJP that is 1.5 times too large at the last element only."""

    uses_output = True

    def forward(self, x):
        return np.exp(x)

    def backward(self, g):
        factor = np.ones(self.output.shape)
        factor.reshape(-1)[-1] = 1.5
        return (g * self.output * tg.Tensor(factor),)


class _TransposeNoTranspose(tg.Function):
    """x.T whose VJP forgets to transpose back: right for symmetric upstream
    gradients (such as the all-ones one of `.sum()`), wrong otherwise."""

    def forward(self, x):
        return x.T.copy()

    def backward(self, g):
        return (g,)


class _SquareWithFrozenVJP(tg.Function):
    """x^2 whose VJP uses the raw array 2x as a constant: first derivatives are
    right, but the VJP cannot be differentiated (its graph misses x)."""

    def forward(self, x):
        return x * x

    def backward(self, g):
        (x,) = self.parents
        return (g * tg.Tensor(2.0 * x.data),)


def _x(*shape: int, seed: int = 0) -> tg.Tensor:
    return tg.Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


# ---------------------------------------------------------------------------
# Correct ops pass
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fast_mode", [False, True])
def test_correct_ops_pass(fast_mode: bool) -> None:
    a, b = _x(3, 4), _x(4, seed=1)
    assert tg.gradcheck(lambda a, b: (a * b).exp() @ b, [a, b], fast_mode=fast_mode) is True
    assert tg.gradgradcheck(lambda a, b: (a * b).tanh().sum(axis=0), [a, b], fast_mode=fast_mode) is True


def test_inputs_are_left_unchanged() -> None:
    x = _x(2, 3)
    before = x.data
    copy = x.data.copy()
    tg.gradcheck(tg.exp, [x])
    tg.gradgradcheck(tg.exp, [x])
    assert x.data is before
    np.testing.assert_array_equal(x.data, copy)
    assert x.grad is None


def test_non_tensor_arguments_and_constant_tensors_pass_through() -> None:
    x = _x(3)
    constant = tg.Tensor(np.arange(3.0))  # does not require grad: not checked
    assert tg.gradcheck(lambda t, c, power: (t * c) ** power, [x, constant, 2])


def test_several_outputs_and_an_unused_input() -> None:
    a, b, unused = _x(3), _x(3, seed=1), _x(2, seed=2)
    assert tg.gradcheck(lambda a, b, u: (a * b, a.exp()), [a, b, unused])


def test_single_tensor_input_is_accepted() -> None:
    assert tg.gradcheck(tg.sigmoid, _x(4))


# ---------------------------------------------------------------------------
# Wrong gradients are caught, with a useful message
# ---------------------------------------------------------------------------


def test_wrong_vjp_is_caught_naming_input_element_and_values() -> None:
    x = _x(2, 3)
    with pytest.raises(GradcheckError) as info:
        tg.gradcheck(lambda t: _ExpWrongAtLastElement.apply(t), [x])
    message = str(info.value)
    assert "input 0" in message and "(2, 3)" in message
    assert "element (1, 2)" in message  # the last element, the only wrong one
    # Both values are printed; the analytic one is 1.5 times the numerical one.
    numbers = re.findall(r"(analytic|numerical) (?:np\.float64\()?(-?[\d.e+-]+)", message)
    values = {kind: float(number) for kind, number in numbers}
    assert set(values) == {"analytic", "numerical"}
    assert values["analytic"] == pytest.approx(1.5 * values["numerical"], rel=1e-4)


def test_only_the_wrong_input_is_named() -> None:
    a, b = _x(3), _x(3, seed=1)
    with pytest.raises(GradcheckError, match="input 1"):
        tg.gradcheck(lambda a, b: a * _ExpWrongAtLastElement.apply(b), [a, b])


def test_transposition_bug_needs_a_random_upstream_gradient() -> None:
    x = _x(3, 3)
    # With the all-ones upstream gradient of .sum(), the bug is invisible ...
    assert tg.gradcheck(lambda t: _TransposeNoTranspose.apply(t).sum(), [x])
    # ... the checker's random upstream gradient exposes it.
    with pytest.raises(GradcheckError, match="input 0"):
        tg.gradcheck(lambda t: _TransposeNoTranspose.apply(t), [x])


def test_fast_mode_also_catches_the_wrong_vjp() -> None:
    with pytest.raises(GradcheckError, match="fast mode.*input 0"):
        tg.gradcheck(lambda t: _TransposeNoTranspose.apply(t), [_x(3, 3)], fast_mode=True)
    with pytest.raises(GradcheckError, match="fast mode"):
        tg.gradcheck(lambda t: _ExpWrongAtLastElement.apply(t), [_x(4)], fast_mode=True)


def test_raise_exception_false_returns_false() -> None:
    wrong = lambda t: _ExpWrongAtLastElement.apply(t)  # noqa: E731
    assert tg.gradcheck(wrong, [_x(3)], raise_exception=False) is False
    assert tg.gradcheck(wrong, [_x(3)], raise_exception=False, fast_mode=True) is False
    assert tg.gradcheck(tg.exp, [_x(3)], raise_exception=False) is True


def test_gradgradcheck_catches_a_vjp_that_is_not_differentiable() -> None:
    x = _x(4)
    square = lambda t: _SquareWithFrozenVJP.apply(t)  # noqa: E731
    assert tg.gradcheck(square, [x])  # first derivatives are right
    with pytest.raises(GradcheckError):
        tg.gradgradcheck(square, [x])
    assert tg.gradgradcheck(square, [x], raise_exception=False) is False
    assert tg.gradgradcheck(lambda t: t * t, [x])  # the correct op passes


# ---------------------------------------------------------------------------
# The step size matters
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [tg.exp, lambda t: t**3], ids=["exp", "cube"])
def test_too_large_eps_is_caught(fn) -> None:
    x = _x(4)
    # Central differences are exact up to O(eps^2) terms: with eps = 1 those
    # are (sinh(1) - 1) e^x for exp and eps^2 = 1 for x^3, far above rtol.
    with pytest.raises(GradcheckError, match="eps=1.0"):
        tg.gradcheck(fn, [x], eps=1.0)
    assert tg.gradcheck(fn, [x], eps=1e-6)


# ---------------------------------------------------------------------------
# Bad usage
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_non_float64_inputs_are_rejected(dtype) -> None:
    x = tg.Tensor(np.ones(3, dtype=dtype), requires_grad=True)
    with pytest.raises(ValueError, match=f"input 0 has dtype {np.dtype(dtype).name}; use float64"):
        tg.gradcheck(tg.exp, [x])
    with pytest.raises(ValueError, match="float64"):
        tg.gradgradcheck(tg.exp, [x])


def test_no_input_requiring_grad_is_rejected() -> None:
    with pytest.raises(ValueError, match="no input requires grad"):
        tg.gradcheck(tg.exp, [tg.Tensor(np.ones(3))])


def test_non_tensor_output_is_rejected() -> None:
    with pytest.raises(TypeError, match="not a Tensor"):
        tg.gradcheck(lambda t: t.data, [_x(3)])


def test_directional_check_compares_a_directional_derivative_with_central_differences() -> None:
    from tinygrad_cnn.gradcheck import directional_check

    # p(t) = (1 + t)^3: p'(0) = 3, and the central difference is 3 + eps^2.
    def projected(t: float) -> float:
        return (1.0 + t) ** 3

    check = directional_check(projected, 3.0, eps=1e-3)
    assert check.passed and check.plus == projected(1e-3) and check.minus == projected(-1e-3)
    assert check.numerical == pytest.approx(3.0 + 1e-6, rel=1e-9)
    assert check.tolerance == pytest.approx(1e-5 + 1e-3 * check.numerical)
    wrong = directional_check(projected, 3.1, eps=1e-3)
    assert not wrong.passed and wrong.error == pytest.approx(0.1, rel=1e-4)
