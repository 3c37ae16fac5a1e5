"""The primitive ops and the Tensor methods built on them.

Each primitive is a small `Function`: `forward` computes on numpy arrays,
`backward` is the vector-Jacobian product written with Tensor ops, so it can
itself be differentiated (higher-order gradients). Read a backward as the
local rule of the chain rule: "given dL/dout, return dL/dinput".

Broadcasting needs no code here: when an input was broadcast, the engine sums
its gradient back to the input's shape (see `sum_to`).

Everything else (sub-expressions like mean, var, softmax) is composed from
these primitives, so its gradient comes for free.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from .engine import Device, Function, Tensor, _share_version, is_grad_enabled, trust_forward
from .float_errors import _IGNORE_ALL, _Depth, _reset_state, _set_state, quiet, quietly
from .vjp_rule import VjpRule

Axis = int | Sequence[int] | None

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _constant(array: np.ndarray) -> Tensor:
    """A tensor that never needs a gradient (masks, indices, ...)."""
    return Tensor._make(array)


class DependsOn(Function):
    """`value` as it is, recorded as a function of `inputs` too, with derivative 0 in them.

    The gradient of relu, abs, clip, max, maximum and the pooling ops depends
    on the input x only through a mask ([x > 0], the position of a maximum),
    so as a function of x it is piecewise constant: its derivative in x is 0
    (where it exists). It still depends on x, as in PyTorch: under
    create_graph=True the gradient must carry a graph, so that it can be
    differentiated again and give exactly 0 (not a "no graph" error).
    `depends_on` records this node only while the backward pass is recorded.
    """

    reads_inputs = False  # it needs only the inputs' shapes

    def forward(self, value, *inputs):
        return value

    vjp_rule = VjpRule(
        {"value": "{g}", "x": "0 (for each tied input x)"},
        plain="the value passes the gradient through; the inputs it is tied to get 0",
    )

    def backward(self, g):
        value, *inputs = self.parents
        zeros = [_zero_gradient(x) if needs else None for x, needs in zip(inputs, self.needs_grad[1:])]
        return (g, *zeros)


def depends_on(value: Tensor, *inputs: Tensor) -> Tensor:
    """`value`, tied to those of `inputs` that require grad with a zero derivative,
    while gradients are recorded (inside a backward pass with create_graph=True);
    else `value` itself (see DependsOn)."""
    if not is_grad_enabled():
        return value
    tied = [x for x in inputs if x.requires_grad]
    return DependsOn.apply(value, *tied) if tied else value


def _zero_gradient(x: Tensor) -> Tensor:
    """0 in x's shape and dtype: the gradient of a DependsOn node for its input x,
    itself tied to x, so that every higher derivative is 0 too."""
    return depends_on(_constant(np.zeros(x.shape, dtype=x.dtype)), x)


def _as_tensor(value: Any, like: Tensor, op: str) -> Tensor:
    """Turn the other operand of a binary op into a Tensor.

    A Python number takes the tensor's dtype (as numpy's weak scalars do), so
    `x * 2.0` keeps float32 a float32.
    """
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.number) and not isinstance(value, float):
        # A numpy scalar counts as a Python number, as in PyTorch:
        # float32 * np.int64(3) stays float32.
        value = value.item()
    if isinstance(value, float):  # np.float64 too: it is a float
        # The common case (`h * 1.0`, `x + 0.5` in a loop), made fast: the
        # constant tensor comes from a cache, so a long loop makes one object
        # fewer per op (and Python's cycle collector has fewer to walk).
        constant = _float_constants.get((value, like.data.dtype))
        if constant is not None:
            return constant
        if like.data.dtype.kind == "f":
            with quiet():  # 1e40 in float32 is inf, without numpy's overflow warning
                return _cached_float_constant(value, like.data.dtype)
    if isinstance(value, (float, np.floating)) and like.data.dtype.kind != "f":
        # A Python float with an integer tensor: PyTorch's default float dtype, float32.
        with quiet():
            return _constant(np.asarray(value, dtype=np.float32))
    if isinstance(value, (bool, int, float, np.number)):
        with quiet():
            return _constant(np.asarray(value, dtype=np.result_type(like.data, value)))
    if isinstance(value, np.ndarray):
        return Tensor(value)
    raise TypeError(f"{op}: unsupported operand of type {type(value).__name__}; expected a Tensor or a number")


# Python floats met as operands of float tensors, as constant tensors of the
# tensor's dtype, keyed by (value, dtype). Their 0-d arrays are read-only: one
# tensor is shared by every op that met the same number. Zeros are left out
# (0.0 and -0.0 are equal keys but differ in sign), and so is NaN (never equal
# to itself, it would never be found); the size is bounded.
_float_constants: dict[tuple[float, np.dtype], Tensor] = {}
_FLOAT_CONSTANTS_LIMIT = 4096


def _cached_float_constant(value: float, dtype: np.dtype) -> Tensor:
    array = np.array(value, dtype=dtype)
    constant = _constant(array)
    if value != 0.0 and value == value and len(_float_constants) < _FLOAT_CONSTANTS_LIMIT:
        array.flags.writeable = False  # shared by every op that uses it
        _float_constants[(value, dtype)] = constant
    return constant


def _as_int(value: Any, op: str, name: str) -> int:
    """An int argument: Python and numpy integers are accepted; bools, floats and strings are not."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    raise TypeError(f"{op}: {name} must be an int, got {type(value).__name__} {value!r}")


def _as_number(value: Any, op: str, name: str) -> float:
    """A real-number argument as a Python float: Python and numpy ints and floats are
    accepted (np.float32(0.5) as well as 0.5); bools, strings and None are not."""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r}")


def _as_float(x: Tensor, op: str) -> Tensor:
    """An integer or bool tensor as float32 (PyTorch's default dtype); a float tensor as it is.

    The one place where float ops (exp, log, sigmoid, division, ...) promote
    their integer inputs, as PyTorch does: sigmoid of the ints [1, -1, 3] is
    computed in float32, never in the integer dtype. Integer tensors carry no
    gradient, so the conversion needs none either.
    """
    try:
        kind = x.data.dtype.kind
    except AttributeError:  # not an array in .data: x.dtype raises the TypeError that says so
        kind = x.dtype.kind
    if kind in "iub":
        _check_float_if_requires_grad(x, op)
        return _constant(x.data.astype(np.float32))
    return x


def _check_float_if_requires_grad(x: Tensor, op: str) -> None:
    """A tensor that requires grad holds floats: Tensor(...) and requires_grad_
    make sure of it, but an integer array written into `.data` afterwards
    would make the op treat it as a constant, and the tensor would silently
    leave the graph (PyTorch refuses such an assignment)."""
    if x.requires_grad and x.data.dtype.kind != "f":
        raise TypeError(
            f"{op}: a tensor that requires grad holds {x.data.dtype} data (shape {x.shape}); it must hold "
            "floats, or it would get no gradient. Was an integer array assigned to .data? "
            "Assign a float array (e.g. values.astype(np.float32))"
        )


def promote_floats(*tensors: Tensor | None) -> list[Tensor | None]:
    """Float tensors of different dtypes, each cast to their common dtype.

    The library's one rule for mixed float dtypes, numpy's promotion (as
    `x32 - y64` gives float64): an op on float tensors of different dtypes
    computes in, and returns, the widest of them, and each input's gradient
    comes back in its own dtype (the Cast's VJP). For the ops that take more
    than one float tensor as separate arguments (conv2d and its bias, the
    losses' targets, batch norm's statistics); the binary ops and matmul get
    the same from numpy. None entries (an absent bias) are passed through.
    """
    present = [t for t in tensors if t is not None]
    dtype = np.result_type(*(t.data.dtype for t in present))
    if all(t.data.dtype == dtype for t in present):
        return list(tensors)
    return [t if t is None or t.data.dtype == dtype else t.astype(dtype) for t in tensors]


def _check_float(x: Tensor, op: str, name: str = "input") -> None:
    """For ops that PyTorch does not define on integers (softmax, mean, conv2d, ...): a TypeError."""
    if x.dtype.kind != "f":
        raise TypeError(
            f"{op}: {name} must be a floating-point tensor, got dtype {x.dtype}; "
            "convert it first, e.g. x.astype(np.float32)"
        )


def _normalize_axes(axis: Axis, ndim: int, op: str) -> tuple[int, ...]:
    """axis (None, int or tuple, negatives allowed) -> sorted tuple of axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        axes = tuple(_as_int(a, op, "axis") for a in axis)
    else:
        axes = (_as_int(axis, op, "axis"),)
    result = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
        result.append(int(a) % ndim)
    if len(set(result)) != len(result):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(result))



# PyTorch spells numpy's `axis` and `keepdims` as `dim` and `keepdim`. Every
# function that takes an axis accepts both spellings (as PyTorch itself does),
# through these two helpers; giving both spellings of one argument is an error.


def spelled_either_way(op: str, numpy_name: str, numpy_value: Any, torch_name: str, torch_value: Any,
                       default: Any = None) -> Any:
    """The value of an argument that numpy and PyTorch name differently: the one given, else `default`."""
    if torch_value is None:
        return default if numpy_value is None else numpy_value
    if numpy_value is not None:
        raise TypeError(f"{op}: give {numpy_name} (numpy's name) or {torch_name} (PyTorch's name), not both "
                        f"(got {numpy_name}={numpy_value!r}, {torch_name}={torch_value!r})")
    return torch_value


def axis_arg(op: str, axis: Any, dim: Any, default: Any = None) -> Any:
    """The axis given as numpy's `axis=` or PyTorch's `dim=` (at most one of them), else `default`."""
    return spelled_either_way(op, "axis", axis, "dim", dim, default)


def keepdims_arg(op: str, keepdims: Any, keepdim: Any) -> bool:
    """numpy's `keepdims=` or PyTorch's `keepdim=` (at most one of them); False when neither is given."""
    chosen = spelled_either_way(op, "keepdims", keepdims, "keepdim", keepdim, default=False)
    if not isinstance(chosen, (bool, np.bool_)):
        raise TypeError(f"{op}: keepdims must be True or False, got {type(chosen).__name__} {chosen!r}")
    return bool(chosen)


def _shape_arg(shape: tuple[Any, ...], op: str, name: str = "shape") -> tuple[int, ...]:
    """Accept both f(2, 3) and f((2, 3)); every entry must be an int."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if type(s) is not int:  # numpy integers are converted; floats, bools and strings refused
            return tuple(_as_int(s, op, name) for s in shape)
    return tuple(shape)


def _broadcast_error(op: str, *tensors: Tensor) -> ValueError:
    shapes = " and ".join(str(t.shape) for t in tensors)
    return ValueError(f"{op}: shapes {shapes} cannot be broadcast together")


# Function.apply as a plain function of (cls, *inputs): a call to it skips
# making a bound method, which is measurable on the hottest path there is.
_apply = Function.apply.__func__


def _promote_mixed(a: Tensor, b: Tensor, op: str) -> tuple[Tensor, Tensor]:
    """Operands of different dtypes, promoted as PyTorch does: an integer tensor
    meeting a float tensor takes the float's dtype (numpy would make int64 with
    float32 a float64). Other pairs are left to numpy's rules, which agree with
    PyTorch's: float32 with float64 is float64, int32 with int64 is int64, and a
    bool array with a float one keeps the float dtype, with no conversion pass
    (ReLU's backward multiplies g by a boolean mask on every step)."""
    a_kind, b_kind = a.data.dtype.kind, b.data.dtype.kind
    for tensor in (a, b):
        _check_float_if_requires_grad(tensor, op)
    if a_kind == "f" and b_kind in "iu":
        b = _constant(b.data.astype(a.data.dtype))
    elif b_kind == "f" and a_kind in "iu":
        a = _constant(a.data.astype(b.data.dtype))
    return a, b


def _not_an_array_error(op: str, *tensors: Tensor) -> TypeError:
    for position, tensor in enumerate(tensors):
        if isinstance(tensor, Tensor) and not isinstance(tensor.data, np.ndarray):
            return TypeError(
                f"{op}: operand {position} holds a {type(tensor.data).__name__} in .data, not a numpy array; "
                "assign arrays to .data (e.g. t.data = np.asarray(values, dtype=np.float32))"
            )
    kinds = " and ".join(type(t).__name__ for t in tensors)
    return TypeError(f"{op}: unsupported operands {kinds}; expected Tensors (or a Tensor and a number)")


def _binary(cls: type[Function], op: str, doc: str) -> Callable[[Any, Any], Tensor]:
    """Make the function of a binary op: operands converted, errors named.

    Each binary op (add, mul, ...) is made here, so that `x + y` costs one
    Python call before the Function runs: this is the hottest path there is.
    """

    def binary_op(a: Any, b: Any) -> Tensor:
        try:
            if not isinstance(b, Tensor):
                b = _as_tensor(b, a, op)
            elif not isinstance(a, Tensor):
                a = _as_tensor(a, b, op)
            mixed = a.data.dtype is not b.data.dtype  # rare: the dtypes differ (an identity test is fast)
        except (AttributeError, TypeError):  # something other than an array was assigned to .data
            if not all(isinstance(t, Tensor) for t in (a, b)) or any(
                not isinstance(t.data, np.ndarray) for t in (a, b)
            ):
                raise _not_an_array_error(op, a, b) from None
            raise
        if mixed:
            a, b = _promote_mixed(a, b, op)
        # numpy's floating-point warnings off, as `quietly` does, written out here
        # to spare the hottest ops a second Python call (float_errors.py).
        switch = not _Depth.count
        if switch:
            token = _set_state(_IGNORE_ALL)
            _Depth.count += 1  # counted, not set: another thread may be inside a region too
        try:
            return _apply(cls, a, b)  # cls.apply(a, b), minus the bound-method call
        except ValueError as error:
            # numpy's message ("operands could not be broadcast...") names no op.
            try:
                np.broadcast_shapes(a.shape, b.shape)
            except ValueError:
                raise _broadcast_error(op, a, b) from None
            # The shapes fit: some other problem (e.g. an integer to a negative power).
            raise ValueError(f"{op}: shapes {a.shape} and {b.shape} (dtypes {a.dtype}, {b.dtype}): {error}") from None
        finally:
            if switch:
                _Depth.count -= 1
                _reset_state(token)

    binary_op.__name__ = binary_op.__qualname__ = op
    binary_op.__doc__ = doc
    return binary_op


# ---------------------------------------------------------------------------
# Elementwise binary primitives
# ---------------------------------------------------------------------------

# The forward of add, sub and mul is numpy's ufunc itself, np.add(a, b) = a + b:
# the same result as a `def forward(self, a, b): return a + b`, without a
# Python call on the most frequent ops there are. Every binary op runs with
# numpy's floating-point warnings off (see _binary): an overflow gives inf,
# and inf - inf gives nan, without a RuntimeWarning, as in PyTorch.


class Add(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    forward = staticmethod(np.add)

    vjp_rule = VjpRule(
        {"a": "{g}", "b": "{g}"},
        plain="an addition passes the upstream gradient unchanged to both inputs",
    )

    def backward(self, g):
        return g, g  # d(a+b)/da = d(a+b)/db = 1


class Sub(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    forward = staticmethod(np.subtract)

    vjp_rule = VjpRule(
        {"a": "{g}", "b": "−{g}"},
        plain="a subtraction passes the upstream gradient to a, and its negative to b",
    )

    def backward(self, g):
        return g, -g


class Mul(Function):
    forward = staticmethod(np.multiply)

    vjp_rule = VjpRule(
        {"a": "{g}·{b}", "b": "{g}·{a}"},
        plain="each input's gradient is the upstream gradient times the other input",
    )

    def backward(self, g):
        a, b = self.parents
        ga = g * b if self.needs_grad[0] else None  # d(ab)/da = b
        gb = g * a if self.needs_grad[1] else None  # d(ab)/db = a
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        return a / b  # x / 0 is inf and 0 / 0 is nan, without warnings (see _binary)

    vjp_rule = VjpRule(
        {"a": "{g} / {b}", "b": "−{g}·{a} / {b}²"},
        plain="the quotient rule, one input at a time",
    )

    def backward(self, g):
        a, b = self.parents
        ga = g / b if self.needs_grad[0] else None
        gb = -g * a / (b * b) if self.needs_grad[1] else None  # d(a/b)/db = -a/b^2
        return ga, gb


class Pow(Function):
    uses_output = True  # its exponent's VJP is written with a^b

    def forward(self, a, b):
        if b.ndim == 0 and b == 0.5:
            # The square root as np.sqrt, as PyTorch computes x ** 0.5: sqrt(-inf)
            # is nan, where C's pow(-inf, 0.5) is +inf (which numpy before 2.1 returns).
            return np.sqrt(a)
        return np.power(a, b)  # a negative base with a fractional exponent is nan; no warning (see _binary)

    vjp_rule = VjpRule(
        {"a": "{g}·{b}·{a}^({b}−1)", "b": "{g}·aᵇ·ln {a}"},
        plain="the power rule for the base, the exponential rule for the exponent",
    )

    def backward(self, g):
        a, b = self.parents
        ga = None
        if self.needs_grad[0]:
            power = b - 1
            if (b.data == 0).any():
                # a^0 = 1 has slope 0 everywhere, but 0 * 0^-1 would be nan at
                # a = 0: use the power 0 there, so the slope is 0 * a^0 = 0.
                power = where(b.data == 0, _constant(np.zeros((), dtype=power.dtype)), power)
            ga = g * b * a**power  # d(a^b)/da = b a^(b-1)
            undefined = np.isnan(self.output.data)
            if undefined.any():
                # Where a^b is nan, so is its slope. b a^(b-1) alone would say 0
                # at a = -inf for b = 0.5 ((-inf)^-0.5 = 0), where sqrt(-inf) is nan.
                ga = where(undefined, _constant(np.array(np.nan, dtype=ga.dtype)), ga)
        gb = None
        if self.needs_grad[1]:
            # d(a^b)/db = a^b log(a): only computed when the exponent needs it, so a
            # constant exponent never takes the log of a negative base.
            a_log_a = self.output * a.log()
            zero_base = (a.data == 0) & (b.data >= 0)
            if zero_base.any():
                # At a = 0, a^b log(a) is 0 * -inf = nan (b > 0) or 1 * -inf (b = 0);
                # the limit for b > 0 is 0, and PyTorch uses 0 for b >= 0.
                a_log_a = where(zero_base, _constant(np.zeros((), dtype=a_log_a.dtype)), a_log_a)
            gb = g * a_log_a
        return ga, gb


class Maximum(Function):
    def forward(self, a, b):
        return np.maximum(a, b)

    vjp_rule = VjpRule(
        {"a": "{g}·m", "b": "{g}·(1 − m), m = [{a} > {b}] + ½[{a} = {b}]"},
        plain="the gradient goes to the larger input (half to each on a tie)",
    )

    def backward(self, g):
        a, b = self.parents
        # The larger input gets the gradient; a tie splits it evenly, as PyTorch does.
        to_a = (a.data > b.data) + 0.5 * (a.data == b.data)
        to_a = _constant(to_a.astype(g.dtype))
        return depends_on(g * to_a, a, b), depends_on(g * (1 - to_a), a, b)


add = _binary(Add, "add", "a + b, with broadcasting.")
sub = _binary(Sub, "sub", "a - b, with broadcasting.")
mul = _binary(Mul, "mul", "a * b elementwise, with broadcasting.")
_div = _binary(Div, "div", "a / b elementwise, with broadcasting.")
pow = _binary(  # noqa: A001
    Pow, "pow", "a ** b elementwise; the exponent gets a gradient only if it requires one. An integer base "
    "with a float exponent is computed in float32; with an integer exponent it stays an integer."
)
maximum = _binary(Maximum, "maximum", "Elementwise maximum; at ties the gradient is split evenly.")


def div(a: Any, b: Any) -> Tensor:
    """a / b elementwise, with broadcasting; integer operands are divided as float32 (true division)."""
    if not isinstance(b, Tensor):
        b = _as_tensor(b, a, "div")
    elif not isinstance(a, Tensor):
        a = _as_tensor(a, b, "div")
    if a.data.dtype.kind != "f" and b.data.dtype.kind != "f":
        a, b = _as_float(a, "div"), _as_float(b, "div")  # 7 / 2 = 3.5, as in PyTorch
    return _div(a, b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum; at ties the gradient is split evenly."""
    if not isinstance(a, Tensor):
        a = _as_tensor(a, b, "minimum")
    if not isinstance(b, Tensor):
        b = _as_tensor(b, a, "minimum")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise _broadcast_error("minimum", a, b) from None
    return -maximum(-a, -b)


# ---------------------------------------------------------------------------
# Elementwise unary primitives
# ---------------------------------------------------------------------------


class Neg(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    def forward(self, x):
        return -x

    vjp_rule = VjpRule(
        {"x": "−{g}"},
        plain="the upstream gradient, negated",
    )

    def backward(self, g):
        return (-g,)


class Exp(Function):
    reads_inputs = False  # its VJP reads the output, not the input
    uses_output = True  # e^x is its own derivative

    @quietly  # large x gives inf and very negative x gives 0, without warnings
    def forward(self, x):
        return np.exp(x)

    vjp_rule = VjpRule(
        {"x": "{g}·eˣ"},
        plain="eˣ is its own derivative: the upstream gradient times the result",
    )

    def backward(self, g):
        return (g * self.output,)  # d(e^x)/dx = e^x, the output itself


class Log(Function):
    @quietly  # log(0) = -inf and log(-1) = nan, as in numpy, but without warnings
    def forward(self, x):
        return np.log(x)

    vjp_rule = VjpRule(
        {"x": "{g} / {x}"},
        plain="the derivative of ln x is 1/x",
    )

    def backward(self, g):
        (x,) = self.parents
        return (g / x,)


class Abs(Function):
    def forward(self, x):
        return np.abs(x)

    vjp_rule = VjpRule(
        {"x": "{g}·sign({x})"},
        plain="the upstream gradient, with the sign of each input element",
    )

    def backward(self, g):
        (x,) = self.parents
        return (depends_on(g * _constant(np.sign(x.data)), x),)  # sign(0) = 0, as in PyTorch


class Sigmoid(Function):
    reads_inputs = False  # its VJP reads the output, not the input
    uses_output = True  # s' = s (1 - s)

    @quietly  # e^-|x| may underflow to 0, which is the right limit
    def forward(self, x):
        # exp of a negative number never overflows: for x >= 0 use
        # 1 / (1 + e^-x), for x < 0 the equal form e^x / (1 + e^x).
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)

    vjp_rule = VjpRule(
        {"x": "{g}·σ({x})·(1 − σ({x}))"},
        plain="the sigmoid's slope, σ(1 − σ), times the upstream gradient",
    )

    def backward(self, g):
        s = self.output
        return (g * s * (1 - s),)  # sigma' = sigma (1 - sigma)


class Tanh(Function):
    reads_inputs = False  # its VJP reads the output, not the input
    uses_output = True  # tanh' = 1 - tanh^2

    def forward(self, x):
        return np.tanh(x)

    vjp_rule = VjpRule(
        {"x": "{g}·(1 − tanh²x)"},
        plain="tanh's slope, 1 − tanh², times the upstream gradient",
    )

    def backward(self, g):
        t = self.output
        return (g * (1 - t * t),)  # tanh' = 1 - tanh^2


class Relu(Function):
    def forward(self, x):
        return np.maximum(x, 0)

    vjp_rule = VjpRule(
        {"x": "{g}·[{x} > 0]"},
        plain="the gradient passes where the input was positive and is blocked (0) elsewhere: a mask",
    )

    def backward(self, g):
        (x,) = self.parents
        # The gradient passes where x > 0; at exactly 0 it is 0 (as in PyTorch).
        # A boolean mask multiplies without a conversion pass (and keeps g's dtype).
        return (depends_on(g * _constant(x.data > 0), x),)


class Clip(Function):
    def forward(self, x, lo=None, hi=None):
        return np.clip(x, lo, hi)

    vjp_rule = VjpRule(
        {"x": "{g}·[lo ≤ {x} ≤ hi]"},
        plain="the gradient passes where the input was inside the bounds",
        settings={"lo": None, "hi": None},
    )

    def backward(self, g):
        (x,) = self.parents
        lo, hi = self.settings["lo"], self.settings["hi"]
        inside = np.ones(x.shape, dtype=bool)
        if lo is not None:
            inside &= x.data >= lo
        if hi is not None:
            inside &= x.data <= hi
        return (depends_on(g * _constant(inside.astype(g.dtype)), x),)


class Cast(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes

    @quietly  # 1e10 as float16 is inf, nan as an integer is some integer: as in PyTorch, no warning
    def forward(self, x, dtype=None):
        return x.astype(dtype)

    vjp_rule = VjpRule(
        {"x": "{g} cast back to x's dtype"},
        plain="a change of number type does not change the gradient, only its type",
    )

    def backward(self, g):
        return (g.astype(self.parents[0].dtype),)


def neg(x: Tensor) -> Tensor:
    """-x."""
    return Neg.apply(x)


def exp(x: Tensor) -> Tensor:
    """e^x elementwise (integer and bool inputs are computed in float32)."""
    return Exp.apply(_as_float(x, "exp"))


def log(x: Tensor) -> Tensor:
    """Natural logarithm; log(0) = -inf without a warning (integer and bool inputs in float32)."""
    return Log.apply(_as_float(x, "log"))


def sqrt(x: Tensor) -> Tensor:
    """Square root, as x ** 0.5 (integer and bool inputs in float32)."""
    return pow(_as_float(x, "sqrt"), 0.5)


def abs(x: Tensor) -> Tensor:  # noqa: A001
    """|x| elementwise; the gradient at 0 is 0."""
    return Abs.apply(x)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x), computed without overflow for any x (integer and bool inputs in float32)."""
    return Sigmoid.apply(_as_float(x, "sigmoid"))


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent (integer and bool inputs are computed in float32)."""
    return Tanh.apply(_as_float(x, "tanh"))


def relu(x: Tensor) -> Tensor:
    """max(x, 0); the gradient at 0 is 0."""
    return Relu.apply(x)


def clip(x: Tensor, lo: float | None = None, hi: float | None = None, *, min: float | None = None,  # noqa: A002
         max: float | None = None) -> Tensor:  # noqa: A002 (PyTorch's keyword names)
    """Limit values to [lo, hi]; the gradient is 1 inside (bounds included), 0 outside.

    PyTorch's keywords `min=` and `max=` name the same bounds; `clamp` is the same function.
    """
    lo = spelled_either_way("clip", "lo", lo, "min", min)
    hi = spelled_either_way("clip", "hi", hi, "max", max)
    if lo is None and hi is None:
        raise ValueError("clip: give at least one of lo and hi")
    lo = None if lo is None else _as_number(lo, "clip", "lo")
    hi = None if hi is None else _as_number(hi, "clip", "hi")
    if x.data.dtype.kind != "f":
        if all(bound is None or bound.is_integer() for bound in (lo, hi)):
            lo, hi = (None if bound is None else int(bound) for bound in (lo, hi))  # stays an integer tensor
        else:
            x = _as_float(x, "clip")  # an integer tensor clipped at 1.5 is computed in float32, as in PyTorch
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"clip: lo={lo} is greater than hi={hi}")
    return Clip.apply(x, lo=lo, hi=hi)


clamp = clip  # PyTorch's name


def astype(x: Tensor, dtype: Any) -> Tensor:
    """Convert to another dtype (float, int or bool); the gradient is converted back."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "fiub":
        raise TypeError(f"astype: unsupported dtype {dtype}; a tensor holds float, int or bool data")
    if dtype == x.dtype:
        return x
    if x.requires_grad and dtype.kind != "f":
        with quiet():
            return Tensor._make(x.data.astype(dtype))  # integers carry no gradient
    return Cast.apply(x, dtype=dtype)


# ---------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------


class Sum(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes

    @quietly  # a sum past the largest float is inf, without a warning
    def forward(self, x, axis=None, keepdims=False):
        return np.sum(x, axis=axis, keepdims=keepdims)

    vjp_rule = VjpRule(
        {"x": "{g} copied over the summed axes"},
        plain="every summed element counts once, so each gets the upstream gradient of its sum",
        settings={"axis": None},
    )

    def backward(self, g):
        (x,) = self.parents
        # Every input element contributed with weight 1: copy g back over the
        # reduced axes.
        if not self.settings["keepdims"]:
            g = g.reshape(_kept_shape(x.shape, self.settings["axis"]))
        return (g.broadcast_to(x.shape),)


class Max(Function):
    def forward(self, x, axis=None, keepdims=False):
        return np.max(x, axis=axis, keepdims=keepdims)

    vjp_rule = VjpRule(
        {"x": "{g} at the first maximum of each slice, 0 elsewhere"},
        plain="only the element that was the maximum changed the result",
        settings={"axis": None},
    )

    def backward(self, g):
        (x,) = self.parents
        axes = self.settings["axis"]
        if not self.settings["keepdims"]:
            g = g.reshape(_kept_shape(x.shape, axes))
        # Only the maximum of each reduced slice gets the gradient; with ties,
        # the first one (as numpy's argmax picks).
        return (depends_on(g.broadcast_to(x.shape) * _constant(_first_max_mask(x.data, axes)), x),)


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _first_max_mask(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """1.0 at the first maximum of every slice over `axes`, 0.0 elsewhere."""
    kept = [i for i in range(x.ndim) if i not in axes]
    # Bring the reduced axes to the end and merge them into one.
    moved = np.transpose(x, kept + list(axes))
    flat = moved.reshape(moved.shape[: len(kept)] + (math.prod(moved.shape[len(kept) :]),))  # no -1: size 0
    first = np.argmax(flat, axis=-1)[..., None]
    mask = np.zeros(flat.shape, dtype=x.dtype)
    np.put_along_axis(mask, first, 1, axis=-1)
    mask = mask.reshape(moved.shape)
    return np.transpose(mask, np.argsort(kept + list(axes)))


class ValuesIndices(NamedTuple):
    """What `max(x, dim=d)` and `min(x, dim=d)` return, as PyTorch's torch.return_types.max:
    the values and the index of each one (`values, indices = x.max(dim=1)`)."""

    values: Tensor
    indices: Tensor


def _arg_reduce(numpy_function: Callable, x: Tensor, axis: Any, keepdims: bool, op: str) -> Tensor:
    if axis is None:
        if x.numel() == 0:
            raise ValueError(f"{op}: cannot take the {op} of an empty tensor (shape {x.shape})")
        result = numpy_function(x.data)
        return Tensor._make(np.asarray(result).reshape((1,) * x.ndim if keepdims else ()))
    if x.ndim == 0:
        (axis,) = _normalize_axes(axis, 1, op)  # a 0-d tensor has one index: 0, as in PyTorch
        return Tensor._make(np.zeros((), dtype=np.int64))
    (axis,) = _normalize_axes(_as_int(axis, op, "axis"), x.ndim, op)
    if x.shape[axis] == 0:
        raise ValueError(f"{op}: cannot reduce over an empty axis: axis {axis} of input shape {x.shape} has size 0")
    return Tensor._make(numpy_function(x.data, axis=axis, keepdims=keepdims))


def argmax(x: Tensor, axis: int | None = None, keepdims: bool | None = None, *, dim: int | None = None,
           keepdim: bool | None = None) -> Tensor:
    """Index of the first maximum (an int64 tensor, no gradient); over all elements when no axis is given."""
    axis = axis_arg("argmax", axis, dim)
    return _arg_reduce(np.argmax, x, axis, keepdims_arg("argmax", keepdims, keepdim), "argmax")


def argmin(x: Tensor, axis: int | None = None, keepdims: bool | None = None, *, dim: int | None = None,
           keepdim: bool | None = None) -> Tensor:
    """Index of the first minimum (an int64 tensor, no gradient); over all elements when no axis is given."""
    axis = axis_arg("argmin", axis, dim)
    return _arg_reduce(np.argmin, x, axis, keepdims_arg("argmin", keepdims, keepdim), "argmin")


def _reduce(cls: type[Function], x: Tensor, axis: Axis, keepdims: bool, op: str) -> Tensor:
    axes = _normalize_axes(axis, x.ndim, op)
    if cls is Max and x.numel() == 0 and any(x.shape[a] == 0 for a in axes):
        # A maximum of nothing is undefined (a sum of nothing is 0). Reducing
        # a (0, 10) tensor over its axis 1 is fine: it gives an empty result.
        empty = [a for a in axes if x.shape[a] == 0]
        raise ValueError(f"{op}: cannot reduce over an empty axis: axis {empty[0]} of input shape {x.shape} has size 0")
    return cls.apply(x, axis=axes, keepdims=keepdims)


def sum(x: Tensor, axis: Axis = None, keepdims: bool | None = None, *, dim: Axis = None,  # noqa: A001
        keepdim: bool | None = None) -> Tensor:
    """Sum over `axis` (None: all axes; int or tuple; negatives allowed); `dim=`/`keepdim=` as in PyTorch."""
    axis = axis_arg("sum", axis, dim)
    return _reduce(Sum, x, axis, keepdims_arg("sum", keepdims, keepdim), "sum")


def max(x: Tensor, axis: Axis = None, keepdims: bool | None = None, *, dim: int | None = None,  # noqa: A001
        keepdim: bool | None = None) -> Tensor | ValuesIndices:
    """Maximum over `axis`; the gradient goes to the first maximum of each slice.

    Given PyTorch's `dim=`, it returns what PyTorch returns: the pair
    (values, indices), `values, indices = x.max(dim=1)`. Given numpy's `axis`
    (by keyword or position), it returns the values only, as numpy does.
    Given a second tensor, `max(x, y)`, it is PyTorch's elementwise `maximum`.
    """
    if isinstance(axis, Tensor):
        return maximum(x, axis)
    keepdims = keepdims_arg("max", keepdims, keepdim)
    values = _reduce(Max, x, axis_arg("max", axis, dim), keepdims, "max")
    if dim is None:
        return values
    return ValuesIndices(values, argmax(x, dim, keepdims))


def min(x: Tensor, axis: Axis = None, keepdims: bool | None = None, *, dim: int | None = None,  # noqa: A001
        keepdim: bool | None = None) -> Tensor | ValuesIndices:
    """Minimum over `axis`, as -max(-x); the gradient goes to the first minimum.

    Given PyTorch's `dim=`, it returns the pair (values, indices), as PyTorch does;
    given a second tensor, `min(x, y)`, it is the elementwise `minimum`.
    """
    if isinstance(axis, Tensor):
        return minimum(x, axis)
    keepdims = keepdims_arg("min", keepdims, keepdim)
    values = -_reduce(Max, -x, axis_arg("min", axis, dim), keepdims, "min")
    if dim is None:
        return values
    return ValuesIndices(values, argmin(x, dim, keepdims))


def mean(x: Tensor, axis: Axis = None, keepdims: bool | None = None, *, dim: Axis = None,
         keepdim: bool | None = None) -> Tensor:
    """Mean over `axis`: the sum divided by the number of elements reduced."""
    _check_float(x, "mean")
    axes = _normalize_axes(axis_arg("mean", axis, dim), x.ndim, "mean")
    count = math.prod(x.shape[a] for a in axes)
    # The mean of nothing is 0 / 0 = nan, as in PyTorch.
    return sum(x, axes, keepdims_arg("mean", keepdims, keepdim)) / count


def _degrees_of_freedom_correction(ddof: Any, correction: Any, unbiased: Any, dim_given: bool, op: str) -> int:
    """numpy's ddof, PyTorch's correction or its older unbiased=True/False: at most one of them.

    None given: numpy's default 0 (the biased variance), except when the axis is
    given as PyTorch's `dim=`; then PyTorch's default 1 (the unbiased one).
    """
    given = {name: value for name, value in (("ddof", ddof), ("correction", correction), ("unbiased", unbiased))
             if value is not None}
    if len(given) > 1:
        raise TypeError(f"{op}: give one of ddof (numpy), correction or unbiased (PyTorch), got {sorted(given)}")
    if unbiased is not None:
        if not isinstance(unbiased, (bool, np.bool_)):
            raise TypeError(f"{op}: unbiased must be True or False, got {type(unbiased).__name__} {unbiased!r}")
        return 1 if unbiased else 0
    if given:
        name, value = next(iter(given.items()))
        return _as_int(value, op, name)
    return 1 if dim_given else 0


def _variance(op: str, x: Tensor, axis: Axis, ddof: Any, keepdims: Any, dim: Axis, keepdim: Any, correction: Any,
              unbiased: Any) -> Tensor:
    """var's and std's common part: the arguments checked in `op`'s name, then the variance."""
    _check_float(x, op)
    axes = _normalize_axes(axis_arg(op, axis, dim), x.ndim, op)
    ddof = _degrees_of_freedom_correction(ddof, correction, unbiased, dim is not None, op)
    keepdims = keepdims_arg(op, keepdims, keepdim)
    count = math.prod(x.shape[a] for a in axes)
    if count - ddof <= 0:
        raise ValueError(f"{op}: ddof={ddof} leaves no degrees of freedom for {count} elements")
    deviation = x - mean(x, axes, keepdims=True)
    return sum(deviation * deviation, axes, keepdims) / (count - ddof)


def var(x: Tensor, axis: Axis = None, ddof: int | None = None, keepdims: bool | None = None, *, dim: Axis = None,
        keepdim: bool | None = None, correction: int | None = None, unbiased: bool | None = None) -> Tensor:
    """Variance over `axis`: the sum of squared deviations from the mean, divided by N - ddof.

    numpy's default is ddof=0 (the biased variance); PyTorch's is correction=1.
    Spelled PyTorch's way, with `dim=`, the default is PyTorch's; `ddof`,
    `correction` and `unbiased` (one of them) set it explicitly.
    """
    return _variance("var", x, axis, ddof, keepdims, dim, keepdim, correction, unbiased)


def std(x: Tensor, axis: Axis = None, ddof: int | None = None, keepdims: bool | None = None, *, dim: Axis = None,
        keepdim: bool | None = None, correction: int | None = None, unbiased: bool | None = None) -> Tensor:
    """Standard deviation, sqrt(var(x)), with var's arguments and defaults.

    Its gradient comes from the chain rule, (x - mean) / ((N - ddof) std); it
    is inf or nan where std is 0 (a constant slice), as in PyTorch.
    """
    return _variance("std", x, axis, ddof, keepdims, dim, keepdim, correction, unbiased) ** 0.5


# ---------------------------------------------------------------------------
# Shape and movement primitives
# ---------------------------------------------------------------------------


class Reshape(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    def forward(self, x, shape=()):
        return x.reshape(shape)

    vjp_rule = VjpRule(
        {"x": "{g} reshaped to x's shape"},
        plain="the same numbers in another shape: the gradient is reshaped back",
    )

    def backward(self, g):
        return (g.reshape(self.parents[0].shape),)


class Permute(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    def forward(self, x, axes=()):
        return np.transpose(x, axes)

    vjp_rule = VjpRule(
        {"x": "{g} permuted back (inverse permutation)"},
        plain="the axes were reordered: the gradient's axes are put back",
        settings={"axes": None},
    )

    def backward(self, g):
        # Undo the permutation: the inverse of `axes` is its argsort.
        return (g.transpose(tuple(np.argsort(self.settings["axes"]))),)


class BroadcastTo(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    def forward(self, x, shape=()):
        return np.broadcast_to(x, shape)

    vjp_rule = VjpRule(
        {"x": "{g} summed over the broadcast axes"},
        plain="an element copied to many places gets the sum of their gradients",
    )

    def backward(self, g):
        return (sum_to(g, self.parents[0].shape),)  # copies add up


class Pad(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    def forward(self, x, pad_width=(), value=0.0):
        return np.pad(x, pad_width, mode="constant", constant_values=value)

    vjp_rule = VjpRule(
        {"x": "{g} without the padding (its middle part)"},
        plain="the padding is not an input: its gradient is dropped",
    )

    def backward(self, g):
        # Padding added constants: the gradient of the input is the middle part.
        x = self.parents[0]
        widths = self.settings["pad_width"]
        inner = tuple(slice(before, before + n) for (before, _), n in zip(widths, x.shape, strict=True))
        return (g[inner],)


class GetItem(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    def forward(self, x, index=None):
        return x[index]

    vjp_rule = VjpRule(
        {"x": "zeros of x's shape with {g} added at [index]"},
        plain="only the elements picked out get gradient (added up where picked twice)",
    )

    def backward(self, g):
        return (ScatterAdd.apply(g, shape=self.parents[0].shape, index=self.settings["index"]),)


class ScatterAdd(Function):
    """zeros(shape) with g added at x[index]: the VJP of indexing."""
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes

    def forward(self, g, shape=(), index=None):
        out = np.zeros(shape, dtype=g.dtype)
        if _is_basic_index(index):
            out[index] = g  # slices never repeat a position
        else:
            np.add.at(out, index, g)  # an integer array may repeat one
        return out

    vjp_rule = VjpRule(
        {"x": "{g}[index]"},
        plain="the gradient is read back at the places the values were added",
    )

    def backward(self, gg):
        return (gg[self.settings["index"]],)


class Concatenate(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    def forward(self, *arrays, axis=0):
        return np.concatenate(arrays, axis=axis)

    vjp_rule = VjpRule(
        {"xᵢ": "the slice of {g} where {xᵢ} sits along axis"},
        plain="each input gets the slice of the gradient where it sits",
        settings={"axis": None},
    )

    def backward(self, g):
        # Each input gets back its own slice along the axis.
        axis = self.settings["axis"]
        grads, start = [], 0
        for p in self.parents:
            index = (slice(None),) * axis + (slice(start, start + p.shape[axis]),)
            grads.append(g[index])
            start += p.shape[axis]
        return tuple(grads)


class Where(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    def forward(self, a, b, condition=None):
        return np.where(condition, a, b)

    vjp_rule = VjpRule(
        {"a": "where(condition, {g}, 0)", "b": "where(condition, 0, {g})"},
        plain="the gradient goes to the input each element was taken from",
    )

    def backward(self, g):
        condition = self.settings["condition"]
        zero = _constant(np.zeros((), dtype=g.dtype))
        ga = where(condition, g, zero) if self.needs_grad[0] else None
        gb = where(condition, zero, g) if self.needs_grad[1] else None
        return ga, gb


def _is_basic_index(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return not any(isinstance(i, np.ndarray) and i.dtype != bool for i in items)


def _resolve_shape(shape: tuple[int, ...], x: Tensor) -> tuple[int, ...]:
    """Fill in a -1 entry and check that the element count is unchanged."""
    error = ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.numel()} elements) into {shape}")
    unknown = [i for i, n in enumerate(shape) if n == -1]
    if len(unknown) > 1 or any(n < -1 for n in shape):
        raise error
    known = math.prod(n for n in shape if n != -1)
    if unknown:
        if known == 0 or x.numel() % known:
            raise error
        shape = shape[: unknown[0]] + (x.numel() // known,) + shape[unknown[0] + 1 :]
    if math.prod(shape) != x.numel():
        raise error
    return shape


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """Same data, new shape (one entry may be -1)."""
    new_shape = _resolve_shape(_shape_arg(shape, "reshape"), x)
    if new_shape == x.shape:
        return x
    # The result is a view of x's memory (when numpy can make one): it shares x's version counter.
    return _share_version(Reshape.apply(x, shape=new_shape), x)


def transpose(x: Tensor, *axes: Any) -> Tensor:
    """Permute the axes, numpy's way: no arguments reverses them.

    PyTorch's transpose(dim0, dim1) swaps two axes instead; that is
    `swapaxes(dim0, dim1)` here. The one call that would silently mean two
    different things, `transpose(0, 1)` on a matrix (numpy: no change;
    PyTorch: the transpose), is refused with a message naming both.
    """
    pair_of_ints = len(axes) == 2 and not isinstance(axes[0], (tuple, list))
    axes = tuple(reversed(range(x.ndim))) if not axes else _shape_arg(axes, "transpose", "axes")
    if pair_of_ints and x.ndim == 2 and tuple(a % 2 for a in axes) == (0, 1):
        raise ValueError(
            f"transpose: axes {axes} are ambiguous for a matrix: numpy reads them as the identity permutation "
            "(no change), PyTorch as a swap of the two axes; write x.T, x.t() or x.swapaxes(0, 1) for the "
            "transpose, or leave the call out"
        )
    in_range = all(-x.ndim <= a < x.ndim for a in axes)
    if not in_range or sorted(a % x.ndim for a in axes) != list(range(x.ndim)):
        swap_hint = ""
        if pair_of_ints and x.ndim > 2:
            swap_hint = f"; to swap two axes, as PyTorch's transpose(dim0, dim1) does, use swapaxes{axes}"
        raise ValueError(
            f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of shape {x.shape}{swap_hint}"
        )
    axes = tuple(a % x.ndim for a in axes)
    if axes == tuple(range(x.ndim)):
        return x
    return _share_version(Permute.apply(x, axes=axes), x)


def broadcast_to(x: Tensor, *shape: Any) -> Tensor:
    """Repeat along size-1 (or new leading) axes to `shape`; the gradient sums them back."""
    shape = _shape_arg(shape, "broadcast_to")
    if shape == x.shape:
        return x
    try:
        np.broadcast_shapes(x.shape, shape)
        if len(shape) < x.ndim or np.broadcast_shapes(x.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast a tensor of shape {x.shape} to {shape}") from None
    return _share_version(BroadcastTo.apply(x, shape=shape), x)


def sum_to(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum `x` down to `shape`: the reverse of broadcasting `shape` up to x.shape."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)
    return sum(x, axes, keepdims=True).reshape(shape)


def squeeze(x: Tensor, axis: Axis = None, *, dim: Axis = None) -> Tensor:
    """Remove size-1 axes (all of them, or the ones named by `axis` or PyTorch's `dim`).

    A named axis whose size is not 1 is an error (PyTorch leaves it as it is).
    """
    axis = axis_arg("squeeze", axis, dim)
    if axis is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    else:
        axes = _normalize_axes(axis, x.ndim, "squeeze")
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of shape {x.shape} has size {x.shape[a]}, not 1")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Insert a size-1 axis at position `axis` (or PyTorch's `dim`; negative counts from the end of the result)."""
    axis = axis_arg("unsqueeze", axis, dim)
    if axis is None:
        raise TypeError("unsqueeze: missing the position of the new axis (axis= or dim=)")
    axis = _as_int(axis, "unsqueeze", "axis")
    ndim = x.ndim + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"unsqueeze: axis {axis} is out of range for a result with {ndim} dimensions")
    axis %= ndim
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes start_dim..end_dim into one (all of them by default)."""
    if x.ndim == 0:
        return reshape(x, (1,))
    (start,) = _normalize_axes(start_dim, x.ndim, "flatten")
    (end,) = _normalize_axes(end_dim, x.ndim, "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {x.shape}")
    merged = math.prod(x.shape[start : end + 1])
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1 :])


def pad(x: Tensor, pad_width: Any, value: float = 0.0) -> Tensor:
    """Pad with a constant, numpy's way: pad_width is an int, a (before, after)
    pair, or one pair per axis."""
    try:
        widths = np.asarray(pad_width)
        if widths.dtype.kind not in "iu":  # 1.5 would silently become 1
            raise TypeError(f"pad: pad_width must hold ints, got {pad_width!r}")
        widths = np.broadcast_to(widths.astype(np.int64), (x.ndim, 2))
    except ValueError:
        raise ValueError(f"pad: pad_width {pad_width!r} does not fit a tensor of shape {x.shape}") from None
    if (widths < 0).any():
        raise ValueError(f"pad: pad_width {pad_width!r} has a negative width")
    widths = tuple((int(a), int(b)) for a, b in widths)
    return Pad.apply(x, pad_width=widths, value=_as_number(value, "pad", "value"))


def _normalize_index(index: Any) -> Any:
    """Tensors and lists used as indices become numpy arrays."""
    items = index if isinstance(index, tuple) else (index,)
    result = []
    for item in items:
        if isinstance(item, Tensor):
            item = item.data
        elif isinstance(item, list):
            item = np.asarray(item)
        if isinstance(item, np.ndarray):
            # A copy: the backward pass uses the index again, so a later in-place
            # change of the user's array must not move the gradient elsewhere.
            item = item.copy()
        if isinstance(item, np.ndarray) and item.dtype.kind not in "iub":
            raise TypeError(f"getitem: index arrays must be integer or boolean, got dtype {item.dtype}")
        result.append(item)
    return tuple(result) if isinstance(index, tuple) or len(result) != 1 else result[0]


def getitem(x: Tensor, index: Any) -> Tensor:
    """x[index]: ints, slices (with steps), None, Ellipsis, integer arrays, boolean masks."""
    index = _normalize_index(index)
    try:
        return _share_version(GetItem.apply(x, index=index), x)  # a view for basic indices
    except IndexError as error:
        raise IndexError(f"getitem: index {index!r} does not fit a tensor of shape {x.shape}: {error}") from None


def _as_condition(condition: Any, op: str) -> np.ndarray:
    """A boolean mask from a Tensor, an array, a list or a bool (numbers count as true when nonzero)."""
    array = condition.data if isinstance(condition, Tensor) else condition
    if isinstance(array, (np.ndarray, list, tuple, bool, np.bool_)):
        array = np.asarray(array)
        if array.dtype.kind in "biuf":
            # A copy: the backward pass uses the mask again, so a later in-place
            # change of the user's condition must not change the gradient.
            return array.astype(bool, copy=True)
    raise TypeError(
        f"{op}: condition must be a boolean Tensor or array, got {type(condition).__name__} {condition!r}"
    )


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Elementwise `a if condition else b`; each side's gradient flows where it was picked."""
    condition = _as_condition(condition, "where")
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = Tensor(np.asarray(a, dtype=np.float32) if isinstance(a, (int, float)) else a)
    if not isinstance(a, Tensor):
        a = _as_tensor(a, b, "where")
    if not isinstance(b, Tensor):
        b = _as_tensor(b, a, "where")
    try:
        np.broadcast_shapes(condition.shape, a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"where: condition {condition.shape}, a {a.shape} and b {b.shape} cannot be broadcast together"
        ) from None
    return Where.apply(a, b, condition=condition)


def concatenate(tensors: Sequence[Tensor], axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis (`axis`, or PyTorch's `dim`; default 0). `cat` is the same function."""
    axis = axis_arg("concatenate", axis, dim, default=0)
    if isinstance(tensors, Tensor):
        raise TypeError("concatenate: tensors must be a list or tuple of tensors, got a single Tensor")
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    first = tensors[0]
    if first.ndim == 0:
        raise ValueError("concatenate: zero-dimensional tensors cannot be concatenated; use stack")
    (axis,) = _normalize_axes(axis, first.ndim, "concatenate")
    for i, t in enumerate(tensors):
        if t.ndim != first.ndim or any(t.shape[d] != first.shape[d] for d in range(t.ndim) if d != axis):
            shapes = ", ".join(str(s.shape) for s in tensors)
            raise ValueError(
                f"concatenate: tensor {i} has shape {t.shape}, which does not match along axes other "
                f"than {axis} (shapes: {shapes})"
            )
    return Concatenate.apply(*tensors, axis=axis)


cat = concatenate  # PyTorch's name


def stack(tensors: Sequence[Tensor], axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Join same-shape tensors along a new axis (`axis`, or PyTorch's `dim`; default 0)."""
    axis = axis_arg("stack", axis, dim, default=0)
    if isinstance(tensors, Tensor):
        raise TypeError("stack: tensors must be a list or tuple of tensors, got a single Tensor")
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape}, tensor 0 has shape {tensors[0].shape}")
    axis = _as_int(axis, "stack", "axis")
    ndim = tensors[0].ndim + 1
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"stack: axis {axis} is out of range for stacking tensors of shape {tensors[0].shape} "
            f"(the result has {ndim} dimensions)"
        )
    return concatenate([unsqueeze(t, axis) for t in tensors], axis=axis % ndim)


# ---------------------------------------------------------------------------
# PyTorch's spellings: copies, views and conversions
# ---------------------------------------------------------------------------


class Clone(Function):
    """A copy of x in new memory, recorded in the graph."""

    reads_inputs = False  # backward needs only the inputs' shapes and dtypes

    def forward(self, x):
        return x.copy()

    vjp_rule = VjpRule({"x": "{g}"}, plain="a copy passes the gradient back unchanged")

    def backward(self, g):
        return (g,)  # the identity map: its Jacobian is I


def clone(x: Tensor) -> Tensor:
    """A copy of x with its own memory, as PyTorch's clone: in the graph, so the
    gradient flows back to x unchanged; an in-place change of one leaves the other as it was."""
    return Clone.apply(x)


def contiguous(x: Tensor) -> Tensor:
    """x itself if its array is C-contiguous (row-major without gaps), else a contiguous clone."""
    return x if x.data.flags.c_contiguous else clone(x)


def _viewable(array: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Whether numpy can give `array` the new shape without copying (PyTorch's rule for view)."""
    try:
        np.reshape(array, shape, copy=False)
    except ValueError:
        return False
    except TypeError:  # numpy before 2.1 has no copy argument: a reshape that copies shares no memory
        return array.size == 0 or np.shares_memory(np.reshape(array, shape), array)
    return True


def view(x: Tensor, *shape: Any) -> Tensor:
    """PyTorch's view: the same data in a new shape (one entry may be -1), never a copy.

    As in PyTorch, it needs a layout in which the new shape is a view: a
    transposed tensor usually cannot be viewed as another shape. `reshape`
    copies when it must; `x.contiguous().view(...)` does the same.
    """
    if len(shape) == 1 and isinstance(shape[0], (np.dtype, type, str)):
        raise TypeError(f"view: reinterpreting the bytes as dtype {shape[0]!r} is not supported; "
                        "to convert the values use x.to(dtype) or x.astype(dtype)")
    new_shape = _resolve_shape(_shape_arg(shape, "view"), x)
    if not _viewable(x.data, new_shape):
        raise RuntimeError(
            f"view: a tensor of shape {x.shape} with strides {x.data.strides} (not contiguous, e.g. a transpose) "
            f"cannot be viewed as shape {new_shape} without copying; use .reshape(...) (which copies when it "
            "must) or .contiguous().view(...)"
        )
    return reshape(x, new_shape)


def t(x: Tensor) -> Tensor:
    """PyTorch's t(): the transpose of a matrix; a 0-d or 1-d tensor is returned as it is."""
    if x.ndim > 2:
        raise ValueError(f"t: expects a tensor with at most 2 dimensions, got shape {x.shape}; "
                         "use permute(...) or swapaxes(a, b) for more")
    return transpose(x) if x.ndim == 2 else x


def to_float(x: Tensor) -> Tensor:
    """x as float32 (PyTorch's `x.float()`); x itself if it is float32 already."""
    return astype(x, np.float32)


def to_double(x: Tensor) -> Tensor:
    """x as float64 (PyTorch's `x.double()`)."""
    return astype(x, np.float64)


def to_half(x: Tensor) -> Tensor:
    """x as float16 (PyTorch's `x.half()`)."""
    return astype(x, np.float16)


def to_long(x: Tensor) -> Tensor:
    """x as int64 (PyTorch's `x.long()`): floats are truncated toward zero; no gradient."""
    return astype(x, np.int64)


def to_int(x: Tensor) -> Tensor:
    """x as int32 (PyTorch's `x.int()`): floats are truncated toward zero; no gradient."""
    return astype(x, np.int32)


def to_bool(x: Tensor) -> Tensor:
    """x as bool (PyTorch's `x.bool()`): nonzero is True; no gradient."""
    return astype(x, np.bool_)


# Device names PyTorch code passes to .to(...); only the CPU exists here.
_OTHER_DEVICES = ("cuda", "mps", "xpu", "meta", "xla", "hip")


def _to_argument(value: Any) -> tuple[str, Any]:
    """One positional argument of `to`: ("device", "cpu") or ("dtype", a numpy dtype)."""
    if isinstance(value, Tensor):
        return "dtype", value.dtype  # PyTorch's x.to(other): other's dtype (and device)
    if isinstance(value, Device):
        return "device", value
    if isinstance(value, str) and value.split(":")[0] in ("cpu",) + _OTHER_DEVICES:
        return "device", value
    try:
        return "dtype", np.dtype(value)
    except TypeError:
        raise TypeError(f"to: expected a dtype, a device ('cpu') or a tensor, got {type(value).__name__} "
                        f"{value!r}") from None


def to_arguments(args: tuple[Any, ...], dtype: Any, device: Any) -> np.dtype | None:
    """The dtype asked for by PyTorch's `to(...)` arguments (None: keep it), after checking the device.

    Positional arguments are a device ("cpu", tg.device("cpu")), a dtype, or
    a tensor (its dtype); the keywords dtype= and device= are the same.
    """
    if len(args) > 2:
        raise TypeError(f"to: takes at most a device and a dtype, got {len(args)} positional arguments")
    for value in args:
        kind, parsed = _to_argument(value)
        if (kind == "dtype" and dtype is not None) or (kind == "device" and device is not None):
            raise TypeError(f"to: {kind} given twice (got {value!r})")
        if kind == "dtype":
            dtype = parsed
        else:
            device = parsed
    if device is not None:
        name = str(device).split(":")[0]
        if name != "cpu":
            raise ValueError(f"to: device {str(device)!r} is not available: this library computes with numpy on "
                             "the CPU; use 'cpu', or leave the .to(device) call out")
    return None if dtype is None else np.dtype(dtype)


def to(x: Tensor, *args: Any, dtype: Any = None, device: Any = None, copy: bool = False,
       non_blocking: bool = False) -> Tensor:
    """PyTorch's `to`: x.to("cpu"), x.to(tg.float64), x.to("cpu", tg.float64), x.to(other).

    A dtype converts as `astype` does (x itself if nothing changes, unless
    copy=True). The device must be the CPU: this library computes with numpy.
    """
    dtype = to_arguments(args, dtype, device)
    result = x if dtype is None else astype(x, dtype)
    return clone(result) if copy and result is x else result


def cpu(x: Tensor) -> Tensor:
    """x itself: every tensor lives on the CPU (PyTorch's `x.cpu()`)."""
    return x


# ---------------------------------------------------------------------------
# Matrix product
# ---------------------------------------------------------------------------


class MatMul(Function):
    """a @ b for a and b of at least two dimensions (batched, broadcasting)."""

    @quietly  # a product past the largest float is inf, without a warning
    def forward(self, a, b):
        return np.matmul(a, b)

    vjp_rule = VjpRule(
        {"A": "{g}·Bᵀ", "B": "Aᵀ·{g}"},
        plain="a matrix product's gradient is the upstream gradient times the other matrix, transposed",
    )

    def backward(self, g):
        a, b = self.parents
        # C = A B  =>  dL/dA = dL/dC B^T,  dL/dB = A^T dL/dC   (per batch element).
        ga = g @ b.swapaxes(-1, -2) if self.needs_grad[0] else None
        gb = None
        if self.needs_grad[1]:
            if b.data.ndim == 2 and not b.data.flags.c_contiguous and b.data.flags.f_contiguous:
                # b is a transposed matrix (`x @ w.T` in a linear layer): compute
                # (g^T A)^T, the same product, so that dL/dB is the transpose of a
                # C-ordered matrix like b, and dL/dw is then C-ordered like w
                # (no slow transposing copy when it is stored in w.grad).
                gb = (g.swapaxes(-1, -2) @ a).swapaxes(-1, -2)
            else:
                gb = a.swapaxes(-1, -2) @ g
        return ga, gb


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with numpy's rules: 1-D, 2-D and batched (broadcast) operands."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"matmul: operands must be Tensors, got {type(a).__name__} and {type(b).__name__}")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[0 if b.ndim == 1 else -2]:
        inner_b = b.shape[0 if b.ndim == 1 else -2]
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} do not match: inner dimensions {a.shape[-1]} and {inner_b} differ"
        )
    # A 1-D operand is a row (on the left) or a column (on the right) vector
    # whose extra axis is removed from the result afterwards.
    a2 = reshape(a, (1, a.shape[0])) if a.ndim == 1 else a
    b2 = reshape(b, (b.shape[0], 1)) if b.ndim == 1 else b
    try:
        out = MatMul.apply(a2, b2)
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of shapes {a.shape} and {b.shape} cannot be broadcast") from None
    if b.ndim == 1:
        out = squeeze(out, -1)
    if a.ndim == 1:
        out = squeeze(out, -2 if b.ndim > 1 else -1)
    return out


def swapaxes(x: Tensor, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes."""
    axes = list(range(x.ndim))
    (i,) = _normalize_axes(axis1, x.ndim, "swapaxes")
    (j,) = _normalize_axes(axis2, x.ndim, "swapaxes")
    axes[i], axes[j] = axes[j], axes[i]
    return transpose(x, tuple(axes))


# The forwards above never write into their input arrays: apply skips the
# read-only guard that protects the forward of a user's own Function.
trust_forward(
    DependsOn, Add, Sub, Mul, Div, Pow, Maximum, Neg, Exp, Log, Abs, Sigmoid, Tanh, Relu, Clip, Cast, Sum, Max,
    Reshape, Permute, BroadcastTo, Pad, GetItem, ScatterAdd, Concatenate, Where, Clone, MatMul,
)


# ---------------------------------------------------------------------------
# numpy functions given a Tensor
# ---------------------------------------------------------------------------
#
# numpy must not compute on a tensor's bare array (through __array__): the
# result would be a plain array, silently cut off from the graph. So
# `ndarray + tensor` (numpy's operators) is computed by the tensor's own ops,
# and any other numpy function given a tensor (np.mean(t), np.exp(t)) raises a
# TypeError naming the fix. np.asarray(t) and np.array(t) still give the array.


def _compared(ufunc: np.ufunc) -> Callable[[Any, Any], Tensor]:
    def compare(a: Any, b: Any) -> Tensor:
        a_data = a.data if isinstance(a, Tensor) else a
        b_data = b.data if isinstance(b, Tensor) else b
        try:
            return Tensor._make(ufunc(a_data, b_data))
        except ValueError:
            raise ValueError(f"{ufunc.__name__}: shapes {np.shape(a_data)} and {np.shape(b_data)} cannot be "
                             "broadcast together") from None

    return compare


def _matmul_any(a: Any, b: Any) -> Tensor:
    return matmul(a if isinstance(a, Tensor) else Tensor(a), b if isinstance(b, Tensor) else Tensor(b))


# numpy's operators on (ndarray, Tensor) pairs, computed with the tensor ops.
_NUMPY_OPERATORS: dict[np.ufunc, Callable[[Any, Any], Tensor]] = {
    np.add: add, np.subtract: sub, np.multiply: mul, np.true_divide: div, np.power: pow,
    np.matmul: _matmul_any, np.maximum: maximum, np.minimum: minimum,
    np.less: _compared(np.less), np.less_equal: _compared(np.less_equal), np.greater: _compared(np.greater),
    np.greater_equal: _compared(np.greater_equal), np.equal: _compared(np.equal),
    np.not_equal: _compared(np.not_equal),
}


def _numpy_hint(name: str, arguments: int) -> str:
    own = f"t.{name}(...)" if hasattr(Tensor, name) else "the tensor ops"
    rest = ", ..." if arguments > 1 else ""
    return (f"numpy would compute on the bare array and drop the graph (no gradient). Use {own}; for a plain "
            f"numpy result without gradient, call numpy on the array: np.{name}(t.numpy(){rest})")


def numpy_ufunc_on_tensor(self: Tensor, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """numpy's ufunc protocol: `ndarray + t`, `arr < t` are the tensor ops; other ufuncs are refused."""
    tensor_op = _NUMPY_OPERATORS.get(ufunc)
    if tensor_op is not None and method == "__call__" and not kwargs and len(inputs) == 2:
        return tensor_op(*inputs)
    if kwargs.get("out") is not None:
        raise TypeError(f"np.{ufunc.__name__} with out=: numpy cannot write a tensor's result into an array in "
                        "place (e.g. `arr += t`); write `arr = arr + t` (a Tensor), or use t.numpy()")
    hint = _numpy_hint(ufunc.__name__, len(inputs))
    raise TypeError(f"np.{ufunc.__name__} does not take a tinygrad_cnn Tensor: {hint}")


def numpy_function_on_tensor(self: Tensor, func: Callable, types: Any, args: Any, kwargs: Any) -> Any:
    """numpy's function protocol (np.mean(t), np.concatenate([t, u])): a TypeError naming the fix."""
    name = func.__name__
    hint = _numpy_hint(name, len(args) + len(kwargs))
    raise TypeError(f"np.{name} does not take a tinygrad_cnn Tensor: {hint}")


# ---------------------------------------------------------------------------
# Tensor methods: each line binds a method to one of the functions above.
# ---------------------------------------------------------------------------


def _reflected(function):
    def method(self, other):
        return function(other, self)

    return method


def _comparison(ufunc, op: str):
    def method(self, other):
        other_data = other.data if isinstance(other, Tensor) else other
        try:
            return Tensor._make(ufunc(self.data, other_data))
        except ValueError:
            other_shape = np.shape(other_data)
            raise ValueError(
                f"{op}: shapes {self.shape} and {other_shape} cannot be broadcast together"
            ) from None

    return method


Tensor.__add__ = add
Tensor.__radd__ = _reflected(add)
Tensor.__sub__ = sub
Tensor.__rsub__ = _reflected(sub)
Tensor.__mul__ = mul
Tensor.__rmul__ = _reflected(mul)
Tensor.__truediv__ = div
Tensor.__rtruediv__ = _reflected(div)
Tensor.__pow__ = pow
Tensor.__rpow__ = _reflected(pow)
Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = _reflected(matmul)
Tensor.__neg__ = neg
Tensor.__getitem__ = getitem
# Comparisons give boolean tensors, which carry no gradient.
Tensor.__lt__ = _comparison(np.less, "lt (<)")
Tensor.__le__ = _comparison(np.less_equal, "le (<=)")
Tensor.__gt__ = _comparison(np.greater, "gt (>)")
Tensor.__ge__ = _comparison(np.greater_equal, "ge (>=)")
Tensor.__eq__ = _comparison(np.equal, "eq (==)")
Tensor.__ne__ = _comparison(np.not_equal, "ne (!=)")
Tensor.__array_ufunc__ = numpy_ufunc_on_tensor
Tensor.__array_function__ = numpy_function_on_tensor

Tensor.__abs__ = abs
Tensor.exp = exp
Tensor.log = log
Tensor.sqrt = sqrt
Tensor.abs = abs
Tensor.sigmoid = sigmoid
Tensor.tanh = tanh
Tensor.relu = relu
Tensor.clip = clip
Tensor.astype = astype
Tensor.sum = sum
Tensor.mean = mean
Tensor.max = max
Tensor.min = min
Tensor.var = var
Tensor.matmul = matmul
Tensor.reshape = reshape
Tensor.transpose = transpose
Tensor.permute = transpose
Tensor.swapaxes = swapaxes
Tensor.T = property(lambda self: transpose(self))
Tensor.flatten = flatten
Tensor.broadcast_to = broadcast_to
Tensor.squeeze = squeeze
Tensor.unsqueeze = unsqueeze
Tensor.pad = pad
Tensor.argmax = argmax
Tensor.argmin = argmin
Tensor.std = std
Tensor.pow = pow
Tensor.clamp = clip
Tensor.clone = clone
Tensor.contiguous = contiguous
Tensor.view = view
Tensor.t = t
Tensor.float = to_float
Tensor.double = to_double
Tensor.half = to_half
Tensor.long = to_long
Tensor.int = to_int
Tensor.bool = to_bool
Tensor.to = to
Tensor.cpu = cpu
