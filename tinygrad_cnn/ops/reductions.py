"""Reductions: sum, max and min over axes, and what is composed from them (mean, var, std)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple, overload

import numpy as np

from ..float_errors import quietly
from ..function import Function, trust_forward
from ..tensor import Axis, Tensor
from ..vjp_rule import VjpRule
from .common import as_int, axis_arg, check_float, constant, depends_on, keepdims_arg, normalize_axes
from .elementwise import maximum, minimum


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _reduce(cls: type[Function], x: Tensor, axis: Axis, keepdims: bool, op: str) -> Tensor:
    axes = normalize_axes(axis, x.ndim, op)
    if cls is Max and x.numel() == 0 and any(x.shape[a] == 0 for a in axes):
        # A maximum of nothing is undefined (a sum of nothing is 0). Reducing
        # a (0, 10) tensor over its axis 1 is fine: it gives an empty result.
        empty = [a for a in axes if x.shape[a] == 0]
        raise ValueError(f"{op}: cannot reduce over an empty axis: axis {empty[0]} of input shape {x.shape} has size 0")
    return cls.apply(x, axis=axes, keepdims=keepdims)


class Sum(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes

    @quietly  # a sum past the largest float is inf, without a warning
    def forward(self, x, *, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims
        return np.sum(x, axis=axis, keepdims=keepdims)

    vjp_rule = VjpRule(
        {"x": "{g} copied over the summed axes"},
        plain="every summed element counts once, so each gets the upstream gradient of its sum",
        settings={"axis": None},
    )

    def backward(self, g):
        (x,) = self.parents
        # The reduced axes put back as size 1, so that g broadcasts to x's shape.
        if not self.keepdims:
            g = g.reshape(_kept_shape(x.shape, self.axis))
        return (g.broadcast_to(x.shape),)


def reduce_sum(x: Tensor, axis: Axis = None, keepdims: bool | None = None, *, dim: Axis = None,
               keepdim: bool | None = None) -> Tensor:
    """Sum over `axis` (None: all axes; int or tuple; negatives allowed); `dim=`/`keepdim=` as in PyTorch."""
    axis = axis_arg("sum", axis, dim)
    return _reduce(Sum, x, axis, keepdims_arg("sum", keepdims, keepdim), "sum")


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


class Max(Function):
    def forward(self, x, *, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims
        return np.max(x, axis=axis, keepdims=keepdims)

    vjp_rule = VjpRule(
        {"x": "{g} at the first maximum of each slice, 0 elsewhere"},
        plain="only the element that was the maximum changed the result",
        settings={"axis": None},
    )

    def backward(self, g):
        (x,) = self.parents
        if not self.keepdims:
            g = g.reshape(_kept_shape(x.shape, self.axis))
        # With ties, the first maximum is the one numpy's argmax picks.
        return (depends_on(g.broadcast_to(x.shape) * constant(_first_max_mask(x.data, self.axis)), x),)


@overload
def reduce_max(x: Tensor, axis: Axis | Tensor = None, keepdims: bool | None = None, *, dim: None = None,
               keepdim: bool | None = None) -> Tensor: ...
@overload
def reduce_max(x: Tensor, axis: Axis | Tensor = None, keepdims: bool | None = None, *, dim: int,
               keepdim: bool | None = None) -> ValuesIndices: ...
def reduce_max(x: Tensor, axis: Axis | Tensor = None, keepdims: bool | None = None, *, dim: int | None = None,
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


@overload
def reduce_min(x: Tensor, axis: Axis | Tensor = None, keepdims: bool | None = None, *, dim: None = None,
               keepdim: bool | None = None) -> Tensor: ...
@overload
def reduce_min(x: Tensor, axis: Axis | Tensor = None, keepdims: bool | None = None, *, dim: int,
               keepdim: bool | None = None) -> ValuesIndices: ...
def reduce_min(x: Tensor, axis: Axis | Tensor = None, keepdims: bool | None = None, *, dim: int | None = None,
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


def _arg_reduce(numpy_function: Callable, x: Tensor, axis: Any, keepdims: bool, op: str) -> Tensor:
    if axis is None:
        if x.numel() == 0:
            raise ValueError(f"{op}: cannot take the {op} of an empty tensor (shape {x.shape})")
        result = numpy_function(x.data)
        return Tensor._make(np.asarray(result).reshape((1,) * x.ndim if keepdims else ()))
    if x.ndim == 0:
        (axis,) = normalize_axes(axis, 1, op)  # a 0-d tensor has one index: 0, as in PyTorch
        return Tensor._make(np.zeros((), dtype=np.int64))
    (axis,) = normalize_axes(as_int(axis, op, "axis"), x.ndim, op)
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


def mean(x: Tensor, axis: Axis = None, keepdims: bool | None = None, *, dim: Axis = None,
         keepdim: bool | None = None) -> Tensor:
    """Mean over `axis`: the sum divided by the number of elements reduced."""
    check_float(x, "mean")
    axes = normalize_axes(axis_arg("mean", axis, dim), x.ndim, "mean")
    count = math.prod(x.shape[a] for a in axes)
    # The mean of nothing is 0 / 0 = nan, as in PyTorch.
    return reduce_sum(x, axes, keepdims_arg("mean", keepdims, keepdim)) / count


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
        return as_int(value, op, name)
    return 1 if dim_given else 0


def _variance(op: str, x: Tensor, axis: Axis, ddof: Any, keepdims: Any, dim: Axis, keepdim: Any, correction: Any,
              unbiased: Any) -> Tensor:
    """var's and std's common part: the arguments checked in `op`'s name, then the variance."""
    check_float(x, op)
    axes = normalize_axes(axis_arg(op, axis, dim), x.ndim, op)
    ddof = _degrees_of_freedom_correction(ddof, correction, unbiased, dim is not None, op)
    keepdims = keepdims_arg(op, keepdims, keepdim)
    count = math.prod(x.shape[a] for a in axes)
    if count - ddof <= 0:
        raise ValueError(f"{op}: ddof={ddof} leaves no degrees of freedom for {count} elements")
    deviation = x - mean(x, axes, keepdims=True)
    return reduce_sum(deviation * deviation, axes, keepdims) / (count - ddof)


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


# The forwards above never write into their input arrays (see Function.guards_inputs).
trust_forward(Sum, Max)
