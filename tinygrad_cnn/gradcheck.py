"""Checking gradients against finite differences.

The analytic gradient from backward is compared, element by element, with the
central difference

    dL/dx_k ~ (L(x + eps e_k) - L(x - eps e_k)) / (2 eps),

where L = sum(v * f(x)) for a random upstream gradient v. A random v matters:
with v = 1 (as in `f(x).sum()`), a VJP that returns the transposed or
permuted gradient can still pass.

Work in float64: in float32 the rounding error of the difference quotient is
larger than the tolerances.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backward import grad
from .grad_mode import enable_grad
from .tensor import Tensor


class GradcheckError(RuntimeError):
    """Raised when an analytic gradient disagrees with finite differences."""


@dataclass(frozen=True)
class DirectionalCheck:
    """A directional derivative from backward next to its central difference.

    analytic: (v^T J) u, from backward; numerical: the central difference;
    plus, minus: the projected output at t = +eps and t = -eps (see
    `directional_check`); tolerance: atol + rtol * |numerical|.
    """

    analytic: float
    numerical: float
    plus: float
    minus: float
    eps: float
    tolerance: float

    @property
    def error(self) -> float:
        return abs(self.analytic - self.numerical)

    @property
    def passed(self) -> bool:
        return self.error <= self.tolerance


def directional_check(
    projected: Callable[[float], float],
    analytic: float,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> DirectionalCheck:
    """Check one directional derivative against central differences (gradcheck's fast mode).

    projected(t) = v . f(x + t u): the function's output, with its inputs
    moved by t along a direction u, projected on an upstream gradient v. Its
    derivative at t = 0 is v^T J u; backward gives the same number as
    (v^T J) u, the `analytic` value. The numerical value is

        (projected(eps) - projected(-eps)) / (2 eps),

    and the check passes when |analytic - numerical| <= atol + rtol * |numerical|.
    """
    plus, minus = projected(eps), projected(-eps)
    numerical = (plus - minus) / (2 * eps)
    return DirectionalCheck(analytic, numerical, plus, minus, eps, atol + rtol * abs(numerical))


def _as_outputs(result: Any) -> list[Tensor]:
    outputs = [result] if isinstance(result, Tensor) else list(result)
    for i, out in enumerate(outputs):
        if not isinstance(out, Tensor):
            raise TypeError(f"gradcheck: output {i} of fn is a {type(out).__name__}, not a Tensor")
    return [out for out in outputs if out.dtype.kind == "f"]


def _checked_inputs(inputs: Sequence[Any]) -> list[int]:
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise ValueError(
                f"gradcheck: input {i} has dtype {inputs[i].dtype}; use float64 "
                "(float32 rounding is larger than the tolerances)"
            )
    return checked


def gradcheck(
    fn: Callable[..., Any],
    inputs: Sequence[Any] | Tensor,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    fast_mode: bool = False,
    seed: int = 0,
) -> bool:
    """Compare the gradients of `fn` at `inputs` with central finite differences.

    fn: takes the inputs and returns a Tensor or a tuple of Tensors.
    inputs: Tensors (the ones with requires_grad=True are checked, and must be
        float64) and any other arguments fn takes.
    An element passes when |analytic - numerical| <= atol + rtol * |numerical|.
    fast_mode: instead of one pair of evaluations per input element, compare
        v^T J u for a random direction u (one pair of evaluations per input):
        for large inputs.
    Returns True, or raises GradcheckError naming the input, the worst element
    and both values (returns False instead with raise_exception=False).
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = _checked_inputs(inputs)
    rng = np.random.default_rng(seed)

    with enable_grad():
        outputs = _as_outputs(fn(*inputs))
    if not outputs:
        raise ValueError("gradcheck: fn returned no floating-point output")
    # A random, non-uniform upstream gradient for every output.
    upstream = [rng.standard_normal(out.shape) for out in outputs]
    differentiable = [(out, v) for out, v in zip(outputs, upstream) if out.requires_grad]
    gradients: Sequence[Tensor | None]
    if differentiable:
        gradients = grad(
            [out for out, _ in differentiable],
            [inputs[i] for i in checked],
            grad_outputs=[Tensor(v.astype(out.dtype)) for out, v in differentiable],
            retain_graph=False,
            allow_unused=True,
        )
    else:
        gradients = [None] * len(checked)
    analytic = [np.zeros(inputs[i].shape) if g is None else g.data for i, g in zip(checked, gradients)]

    def projected_output() -> float:
        # L = sum over outputs of <v, f(x)>: a scalar whose gradient is v^T J.
        with enable_grad():
            values = _as_outputs(fn(*inputs))
        return float(sum(np.sum(out.data * v) for out, v in zip(values, upstream)))

    for i, a in zip(checked, analytic):
        tensor = inputs[i]
        original = tensor.data
        tensor.data = original.copy()  # perturb a private copy, restore after
        try:
            if fast_mode:
                failure = _check_direction(i, tensor, a, projected_output, rng, eps, atol, rtol)
            else:
                failure = _check_elements(i, tensor, a, projected_output, eps, atol, rtol)
        finally:
            tensor.data = original
        if failure:
            if raise_exception:
                raise GradcheckError(failure)
            return False
    return True


def _check_elements(
    index: int,
    tensor: Tensor,
    analytic: np.ndarray,
    projected_output: Callable[[], float],
    eps: float,
    atol: float,
    rtol: float,
) -> str | None:
    flat = tensor.data.reshape(-1)  # a view of the private copy
    numerical_flat = np.zeros(flat.size)
    for k in range(flat.size):
        value = flat[k]
        flat[k] = value + eps
        plus = projected_output()
        flat[k] = value - eps
        minus = projected_output()
        flat[k] = value
        numerical_flat[k] = (plus - minus) / (2 * eps)
    numerical = numerical_flat.reshape(tensor.shape)
    excess = np.abs(analytic - numerical) - (atol + rtol * np.abs(numerical))
    if not (excess > 0).any() and np.isfinite(analytic).all():
        return None
    worst = np.unravel_index(np.nanargmax(np.where(np.isfinite(excess), excess, np.inf)), tensor.shape)
    position = tuple(int(k) for k in worst)
    return (
        f"gradcheck: gradient of input {index} (shape {tensor.shape}) is wrong at element {position}: "
        f"analytic {float(analytic[worst])!r}, numerical {float(numerical[worst])!r} "
        f"(atol={atol}, rtol={rtol}, eps={eps})"
    )


def _check_direction(
    index: int,
    tensor: Tensor,
    analytic: np.ndarray,
    projected_output: Callable[[], float],
    rng: np.random.Generator,
    eps: float,
    atol: float,
    rtol: float,
) -> str | None:
    direction = rng.standard_normal(tensor.shape)
    original = tensor.data.copy()

    def moved(t: float) -> float:
        tensor.data[...] = original + t * direction
        return projected_output()

    check = directional_check(moved, float(np.sum(analytic * direction)), eps=eps, atol=atol, rtol=rtol)
    tensor.data[...] = original
    if check.passed:
        return None
    return (
        f"gradcheck (fast mode): gradient of input {index} (shape {tensor.shape}) is wrong along a random "
        f"direction: analytic v^T J u = {check.analytic!r}, numerical {check.numerical!r} "
        f"(atol={atol}, rtol={rtol}, eps={eps})"
    )


def gradgradcheck(
    fn: Callable[..., Any],
    inputs: Sequence[Any] | Tensor,
    grad_outputs: Sequence[Tensor] | None = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    fast_mode: bool = False,
    seed: int = 0,
) -> bool:
    """Check second derivatives: gradcheck of the function (inputs, v) -> v^T J.

    The first derivatives are computed with create_graph=True, so this checks
    that every VJP is itself correctly differentiable.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = _checked_inputs(inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(seed + 1)
        with enable_grad():
            outputs = [out for out in _as_outputs(fn(*inputs)) if out.requires_grad]
        grad_outputs = [Tensor(rng.standard_normal(out.shape), requires_grad=True) for out in outputs]
    grad_outputs = list(grad_outputs)
    n = len(inputs)

    def first_derivatives(*args: Any) -> tuple[Tensor, ...]:
        xs, vs = args[:n], args[n:]
        outputs = [out for out in _as_outputs(fn(*xs)) if out.requires_grad]
        grads = grad(outputs, [xs[i] for i in checked], grad_outputs=list(vs), create_graph=True,
                     allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(
        first_derivatives,
        (*inputs, *grad_outputs),
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
        fast_mode=fast_mode,
        seed=seed,
    )
