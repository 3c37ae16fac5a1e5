"""What the ops share: turning arguments into tensors and checked values, and DependsOn.

Every op checks its arguments here, so that a wrong one gets an error naming
the op and the argument, not a numpy traceback: `as_int`, `as_number`,
`normalize_axes`, `shape_arg`; `as_tensor` turns the other operand of a binary
op into a tensor, `as_float` promotes integer tensors for the float ops.
PyTorch's `dim`/`keepdim` and numpy's `axis`/`keepdims` are read by
`axis_arg` and `keepdims_arg`.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..float_errors import quiet
from ..function import Function, trust_forward
from ..grad_mode import is_grad_enabled
from ..tensor import Axis, Tensor
from ..vjp_rule import VjpRule

if TYPE_CHECKING:
    from typing_extensions import TypeVarTuple, Unpack

    Tensors = TypeVarTuple("Tensors")  # promote_floats returns its arguments' types, in order


def constant(array: np.ndarray) -> Tensor:
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
    return depends_on(constant(np.zeros(x.shape, dtype=x.dtype)), x)


def as_tensor(value: Any, like: Tensor, op: str) -> Tensor:
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
        cached = _float_constants.get((value, like.data.dtype))
        if cached is not None:
            return cached
        if like.data.dtype.kind == "f":
            with quiet():  # 1e40 in float32 is inf, without numpy's overflow warning
                return _cached_float_constant(value, like.data.dtype)
    if isinstance(value, (float, np.floating)) and like.data.dtype.kind != "f":
        # A Python float with an integer tensor: PyTorch's default float dtype, float32.
        with quiet():
            return constant(np.asarray(value, dtype=np.float32))
    if isinstance(value, (bool, int, float, np.number)):
        with quiet():
            return constant(np.asarray(value, dtype=np.result_type(like.data, value)))
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
    tensor = constant(array)
    if value != 0.0 and value == value and len(_float_constants) < _FLOAT_CONSTANTS_LIMIT:
        array.flags.writeable = False  # shared by every op that uses it
        _float_constants[(value, dtype)] = tensor
    return tensor


def as_int(value: Any, op: str, name: str) -> int:
    """An int argument: Python and numpy integers are accepted; bools, floats and strings are not."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    raise TypeError(f"{op}: {name} must be an int, got {type(value).__name__} {value!r}")


def as_number(value: Any, op: str, name: str) -> float:
    """A real-number argument as a Python float: Python and numpy ints and floats are
    accepted (np.float32(0.5) as well as 0.5); bools, strings and None are not."""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r}")


def as_float(x: Tensor, op: str) -> Tensor:
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
        check_float_if_requires_grad(x, op)
        return constant(x.data.astype(np.float32))
    return x


def check_float_if_requires_grad(x: Tensor, op: str) -> None:
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


def promote_floats(*tensors: Unpack[Tensors]) -> tuple[Unpack[Tensors]]:
    """Float tensors of different dtypes, each cast to their common dtype.

    The library's one rule for mixed float dtypes, numpy's promotion (as
    `x32 - y64` gives float64): an op on float tensors of different dtypes
    computes in, and returns, the widest of them, and each input's gradient
    comes back in its own dtype (the Cast's VJP). For the ops that take more
    than one float tensor as separate arguments (conv2d and its bias, the
    losses' targets, batch norm's statistics); the binary ops and matmul get
    the same from numpy. None entries (an absent bias) are passed through.
    """
    given: tuple[Tensor | None, ...] = tensors  # type: ignore[assignment]  # each a Tensor or None
    present = [t for t in given if t is not None]
    dtype = np.result_type(*(t.data.dtype for t in present))
    if all(t.data.dtype == dtype for t in present):
        return tensors
    promoted = tuple(t if t is None or t.data.dtype == dtype else t.astype(dtype) for t in given)
    return cast("tuple[Unpack[Tensors]]", promoted)  # each in its place, of its type


def check_float(x: Tensor, op: str, name: str = "input") -> None:
    """For ops that PyTorch does not define on integers (softmax, mean, conv2d, ...): a TypeError."""
    if x.dtype.kind != "f":
        raise TypeError(
            f"{op}: {name} must be a floating-point tensor, got dtype {x.dtype}; "
            "convert it first, e.g. x.astype(np.float32)"
        )


def normalize_axes(axis: Axis, ndim: int, op: str) -> tuple[int, ...]:
    """axis (None, int or tuple, negatives allowed) -> sorted tuple of axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        axes = tuple(as_int(a, op, "axis") for a in axis)
    else:
        axes = (as_int(axis, op, "axis"),)
    result = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
        result.append(int(a) % ndim)
    if len(set(result)) != len(result):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(result))


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


def shape_arg(shape: tuple[Any, ...], op: str, name: str = "shape") -> tuple[int, ...]:
    """Accept both f(2, 3) and f((2, 3)); every entry must be an int."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if type(s) is not int:  # numpy integers are converted; floats, bools and strings refused
            return tuple(as_int(s, op, name) for s in shape)
    return tuple(shape)


def broadcast_error(op: str, *tensors: Tensor) -> ValueError:
    shapes = " and ".join(str(t.shape) for t in tensors)
    return ValueError(f"{op}: shapes {shapes} cannot be broadcast together")


# The forward above never writes into its input arrays: apply skips the
# read-only guard that protects the forward of a user's own Function.
trust_forward(DependsOn)
