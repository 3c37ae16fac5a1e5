"""Elementwise ops: arithmetic, the activation functions, selection, and dtype changes.

Each primitive is a small `Function`: `forward` computes on numpy arrays,
`backward` is the vector-Jacobian product written with Tensor ops, so it can
itself be differentiated (higher-order gradients). Read a backward as the
local rule of the chain rule: "given g = dL/dout, return dL/dinput".

Broadcasting needs no code here: when an input was broadcast, the backward
pass sums its gradient back to the input's shape (backward.fit_to_input).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..float_errors import IGNORE_ALL, error_state, quiet, quietly, reset_error_state, set_error_state
from ..function import Function, trust_forward
from ..tensor import Device, Tensor
from ..vjp_rule import VjpRule
from .common import (
    as_float,
    as_number,
    as_tensor,
    broadcast_error,
    check_float_if_requires_grad,
    constant,
    depends_on,
    spelled_either_way,
)


def promote_mixed(a: Tensor, b: Tensor, op: str) -> tuple[Tensor, Tensor]:
    """Operands of different dtypes, promoted as PyTorch does: an integer tensor
    meeting a float tensor takes the float's dtype (numpy would make int64 with
    float32 a float64). Other pairs are left to numpy's rules, which agree with
    PyTorch's: float32 with float64 is float64, int32 with int64 is int64, and a
    bool array with a float one keeps the float dtype, with no conversion pass
    (ReLU's backward multiplies g by a boolean mask on every step)."""
    a_kind, b_kind = a.data.dtype.kind, b.data.dtype.kind
    for tensor in (a, b):
        check_float_if_requires_grad(tensor, op)
    if a_kind == "f" and b_kind in "iu":
        b = constant(b.data.astype(a.data.dtype))
    elif b_kind == "f" and a_kind in "iu":
        a = constant(a.data.astype(b.data.dtype))
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
                b = as_tensor(b, a, op)
            elif not isinstance(a, Tensor):
                a = as_tensor(a, b, op)
            mixed = a.data.dtype is not b.data.dtype  # rare: the dtypes differ (an identity test is fast)
        except (AttributeError, TypeError):  # something other than an array was assigned to .data
            if not all(isinstance(t, Tensor) for t in (a, b)) or any(
                not isinstance(t.data, np.ndarray) for t in (a, b)
            ):
                raise _not_an_array_error(op, a, b) from None
            raise
        if mixed:
            a, b = promote_mixed(a, b, op)
        # numpy's floating-point warnings off, as `quietly` does, written out here
        # for the hottest ops: about 220 ns, where the `quietly` wrapper's second
        # Python call takes about 380 (float_errors.py). Inside a backward pass
        # they are off already.
        switch = error_state() is not IGNORE_ALL
        if switch:
            token = set_error_state(IGNORE_ALL)
        try:
            return cls.apply(a, b)
        except ValueError as error:
            # numpy's message ("operands could not be broadcast...") names no op.
            try:
                np.broadcast_shapes(a.shape, b.shape)
            except ValueError:
                raise broadcast_error(op, a, b) from None
            # The shapes fit: some other problem (e.g. an integer to a negative power).
            raise ValueError(f"{op}: shapes {a.shape} and {b.shape} (dtypes {a.dtype}, {b.dtype}): {error}") from None
        finally:
            if switch:
                reset_error_state(token)

    binary_op.__name__ = binary_op.__qualname__ = op
    binary_op.__doc__ = doc
    return binary_op


class Add(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    forward = staticmethod(np.add)

    vjp_rule = VjpRule(
        {"a": "{g}", "b": "{g}"},
        plain="an addition passes the upstream gradient unchanged to both inputs",
    )

    def backward(self, g):
        return g, g


add = _binary(Add, "add", "a + b, with broadcasting.")


class Sub(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    forward = staticmethod(np.subtract)

    vjp_rule = VjpRule(
        {"a": "{g}", "b": "−{g}"},
        plain="a subtraction passes the upstream gradient to a, and its negative to b",
    )

    def backward(self, g):
        return g, -g


sub = _binary(Sub, "sub", "a - b, with broadcasting.")


class Mul(Function):
    forward = staticmethod(np.multiply)

    vjp_rule = VjpRule(
        {"a": "{g}·{b}", "b": "{g}·{a}"},
        plain="each input's gradient is the upstream gradient times the other input",
    )

    def backward(self, g):
        a, b = self.parents
        ga = g * b if self.needs_grad[0] else None
        gb = g * a if self.needs_grad[1] else None
        return ga, gb


mul = _binary(Mul, "mul", "a * b elementwise, with broadcasting.")


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
        gb = -g * a / (b * b) if self.needs_grad[1] else None
        return ga, gb


_div = _binary(Div, "div", "a / b elementwise, with broadcasting.")


def div(a: Any, b: Any) -> Tensor:
    """a / b elementwise, with broadcasting; integer operands are divided as float32 (true division)."""
    if not isinstance(b, Tensor):
        b = as_tensor(b, a, "div")
    elif not isinstance(a, Tensor):
        a = as_tensor(a, b, "div")
    if a.data.dtype.kind != "f" and b.data.dtype.kind != "f":
        a, b = as_float(a, "div"), as_float(b, "div")  # 7 / 2 = 3.5, as in PyTorch
    return _div(a, b)


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
                power = where(b.data == 0, constant(np.zeros((), dtype=power.dtype)), power)
            ga = g * b * a**power
            undefined = np.isnan(self.output.data)
            if undefined.any():
                # Where a^b is nan, so is its slope. b a^(b-1) alone would say 0
                # at a = -inf for b = 0.5 ((-inf)^-0.5 = 0), where sqrt(-inf) is nan.
                ga = where(undefined, constant(np.array(np.nan, dtype=ga.dtype)), ga)
        gb = None
        if self.needs_grad[1]:
            # Only computed when the exponent needs it, so a constant exponent
            # never takes the log of a negative base.
            a_log_a = self.output * a.log()
            zero_base = (a.data == 0) & (b.data >= 0)
            if zero_base.any():
                # At a = 0, a^b log(a) is 0 * -inf = nan (b > 0) or 1 * -inf (b = 0);
                # the limit for b > 0 is 0, and PyTorch uses 0 for b >= 0.
                a_log_a = where(zero_base, constant(np.zeros((), dtype=a_log_a.dtype)), a_log_a)
            gb = g * a_log_a
        return ga, gb


power = _binary(
    Pow, "pow", "a ** b elementwise; the exponent gets a gradient only if it requires one. An integer base "
    "with a float exponent is computed in float32; with an integer exponent it stays an integer."
)


class Maximum(Function):
    def forward(self, a, b):
        return np.maximum(a, b)

    vjp_rule = VjpRule(
        {"a": "{g}·m", "b": "{g}·(1 − m), m = [{a} > {b}] + ½[{a} = {b}]"},
        plain="the gradient goes to the larger input (half to each on a tie)",
    )

    def backward(self, g):
        a, b = self.parents
        # m of the rule: a tie splits the gradient evenly, as PyTorch does.
        to_a = (a.data > b.data) + 0.5 * (a.data == b.data)
        to_a = constant(to_a.astype(g.dtype))
        return depends_on(g * to_a, a, b), depends_on(g * (1 - to_a), a, b)


maximum = _binary(Maximum, "maximum", "Elementwise maximum; at ties the gradient is split evenly.")


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum; at ties the gradient is split evenly."""
    if not isinstance(a, Tensor):
        a = as_tensor(a, b, "minimum")
    if not isinstance(b, Tensor):
        b = as_tensor(b, a, "minimum")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise broadcast_error("minimum", a, b) from None
    return -maximum(-a, -b)


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


def neg(x: Tensor) -> Tensor:
    """-x."""
    return Neg.apply(x)


class Exp(Function):
    reads_inputs = False  # its VJP reads the output, not the input
    uses_output = True  # its VJP is written with the result

    @quietly  # large x gives inf and very negative x gives 0, without warnings
    def forward(self, x):
        return np.exp(x)

    vjp_rule = VjpRule(
        {"x": "{g}·eˣ"},
        plain="eˣ is its own derivative: the upstream gradient times the result",
    )

    def backward(self, g):
        return (g * self.output,)


def exp(x: Tensor) -> Tensor:
    """e^x elementwise (integer and bool inputs are computed in float32)."""
    return Exp.apply(as_float(x, "exp"))


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


def log(x: Tensor) -> Tensor:
    """Natural logarithm; log(0) = -inf without a warning (integer and bool inputs in float32)."""
    return Log.apply(as_float(x, "log"))


def sqrt(x: Tensor) -> Tensor:
    """Square root, as x ** 0.5 (integer and bool inputs in float32)."""
    return power(as_float(x, "sqrt"), 0.5)


class Abs(Function):
    def forward(self, x):
        return np.abs(x)

    vjp_rule = VjpRule(
        {"x": "{g}·sign({x})"},
        plain="the upstream gradient, with the sign of each input element",
    )

    def backward(self, g):
        (x,) = self.parents
        return (depends_on(g * constant(np.sign(x.data)), x),)  # sign(0) = 0, as in PyTorch


def absolute(x: Tensor) -> Tensor:
    """|x| elementwise; the gradient at 0 is 0."""
    return Abs.apply(x)


class Sigmoid(Function):
    reads_inputs = False  # its VJP reads the output, not the input
    uses_output = True  # its VJP is written with the result, so no second exponential

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
        return (g * s * (1 - s),)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x), computed without overflow for any x (integer and bool inputs in float32)."""
    return Sigmoid.apply(as_float(x, "sigmoid"))


class Tanh(Function):
    reads_inputs = False  # its VJP reads the output, not the input
    uses_output = True  # its VJP is written with the result

    def forward(self, x):
        return np.tanh(x)

    vjp_rule = VjpRule(
        {"x": "{g}·(1 − tanh²x)"},
        plain="tanh's slope, 1 − tanh², times the upstream gradient",
    )

    def backward(self, g):
        t = self.output
        return (g * (1 - t * t),)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent (integer and bool inputs are computed in float32)."""
    return Tanh.apply(as_float(x, "tanh"))


class Relu(Function):
    def forward(self, x):
        return np.maximum(x, 0)

    vjp_rule = VjpRule(
        {"x": "{g}·[{x} > 0]"},
        plain="the gradient passes where the input was positive and is blocked (0) elsewhere: a mask",
    )

    def backward(self, g):
        (x,) = self.parents
        # At exactly 0 the gradient is 0 (as in PyTorch).
        # A boolean mask multiplies without a conversion pass (and keeps g's dtype).
        return (depends_on(g * constant(x.data > 0), x),)


def relu(x: Tensor) -> Tensor:
    """max(x, 0); the gradient at 0 is 0."""
    return Relu.apply(x)


class Clip(Function):
    def forward(self, x, *, lo, hi):
        self.lo, self.hi = lo, hi
        return np.clip(x, lo, hi)

    vjp_rule = VjpRule(
        {"x": "{g}·[lo ≤ {x} ≤ hi]"},
        plain="the gradient passes where the input was inside the bounds",
        settings={"lo": None, "hi": None},
    )

    def backward(self, g):
        (x,) = self.parents
        inside = np.ones(x.shape, dtype=bool)
        if self.lo is not None:
            inside &= x.data >= self.lo
        if self.hi is not None:
            inside &= x.data <= self.hi
        return (depends_on(g * constant(inside.astype(g.dtype)), x),)


def clip(x: Tensor, lo: float | None = None, hi: float | None = None, *, min: float | None = None,  # noqa: A002
         max: float | None = None) -> Tensor:  # noqa: A002 (PyTorch's keyword names)
    """Limit values to [lo, hi]; the gradient is 1 inside (bounds included), 0 outside.

    PyTorch's keywords `min=` and `max=` name the same bounds; `clamp` is the same function.
    """
    lo = spelled_either_way("clip", "lo", lo, "min", min)
    hi = spelled_either_way("clip", "hi", hi, "max", max)
    if lo is None and hi is None:
        raise ValueError("clip: give at least one of lo and hi")
    lo = None if lo is None else as_number(lo, "clip", "lo")
    hi = None if hi is None else as_number(hi, "clip", "hi")
    if x.data.dtype.kind != "f":
        if all(bound is None or bound.is_integer() for bound in (lo, hi)):
            lo, hi = (None if bound is None else int(bound) for bound in (lo, hi))  # stays an integer tensor
        else:
            x = as_float(x, "clip")  # an integer tensor clipped at 1.5 is computed in float32, as in PyTorch
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"clip: lo={lo} is greater than hi={hi}")
    return Clip.apply(x, lo=lo, hi=hi)


clamp = clip  # PyTorch's name


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


class Where(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    def forward(self, a, b, *, condition):
        self.condition = condition
        return np.where(condition, a, b)

    vjp_rule = VjpRule(
        {"a": "where(condition, {g}, 0)", "b": "where(condition, 0, {g})"},
        plain="the gradient goes to the input each element was taken from",
    )

    def backward(self, g):
        zero = constant(np.zeros((), dtype=g.dtype))
        ga = where(self.condition, g, zero) if self.needs_grad[0] else None
        gb = where(self.condition, zero, g) if self.needs_grad[1] else None
        return ga, gb


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Elementwise `a if condition else b`; each side's gradient flows where it was picked."""
    condition = _as_condition(condition, "where")
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = Tensor(np.asarray(a, dtype=np.float32) if isinstance(a, (int, float)) else a)
    if not isinstance(a, Tensor):
        a = as_tensor(a, b, "where")
    if not isinstance(b, Tensor):
        b = as_tensor(b, a, "where")
    try:
        np.broadcast_shapes(condition.shape, a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"where: condition {condition.shape}, a {a.shape} and b {b.shape} cannot be broadcast together"
        ) from None
    return Where.apply(a, b, condition=condition)


class Cast(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes

    @quietly  # 1e10 as float16 is inf, nan as an integer is some integer: as in PyTorch, no warning
    def forward(self, x, *, dtype):
        return x.astype(dtype)

    vjp_rule = VjpRule(
        {"x": "{g} cast back to x's dtype"},
        plain="a change of number type does not change the gradient, only its type",
    )

    def backward(self, g):
        return (g.astype(self.parents[0].dtype),)


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
    return result.clone() if copy and result is x else result


def compare(ufunc: np.ufunc, op: str, a: Any, b: Any) -> Tensor:
    """`a < b` and the other comparisons: a bool tensor, with no gradient (as in PyTorch)."""
    a_data = a.data if isinstance(a, Tensor) else a
    b_data = b.data if isinstance(b, Tensor) else b
    try:
        return Tensor._make(ufunc(a_data, b_data))
    except ValueError:
        raise ValueError(
            f"{op}: shapes {np.shape(a_data)} and {np.shape(b_data)} cannot be broadcast together"
        ) from None


# The forwards above never write into their input arrays: apply skips the
# read-only guard that protects the forward of a user's own Function.
trust_forward(Add, Sub, Mul, Div, Pow, Maximum, Neg, Exp, Log, Abs, Sigmoid, Tanh, Relu, Clip, Where, Cast)
