"""Shape and movement ops: reshape, transpose, broadcast, pad, indexing, concatenation, copies.

They move numbers without changing them, so each VJP moves the gradient back:
reshape it back, permute it back, sum the copies of a broadcast, pick the
slice of a concatenation. A result that is a numpy view of its input shares
the input's version counter (`share_version`): writing into one changes both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..function import Function, trust_forward
from ..tensor import Axis, Tensor, share_version
from ..vjp_rule import VjpRule
from .common import as_int, as_number, axis_arg, normalize_axes, shape_arg
from .reductions import reduce_sum


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


class Reshape(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    def forward(self, x, *, shape):
        return x.reshape(shape)

    vjp_rule = VjpRule(
        {"x": "{g} reshaped to x's shape"},
        plain="the same numbers in another shape: the gradient is reshaped back",
    )

    def backward(self, g):
        return (g.reshape(self.parents[0].shape),)


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """Same data, new shape (one entry may be -1)."""
    new_shape = _resolve_shape(shape_arg(shape, "reshape"), x)
    if new_shape == x.shape:
        return x
    # The result is a view of x's memory (when numpy can make one): it shares x's version counter.
    return share_version(Reshape.apply(x, shape=new_shape), x)


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
    new_shape = _resolve_shape(shape_arg(shape, "view"), x)
    if not _viewable(x.data, new_shape):
        raise RuntimeError(
            f"view: a tensor of shape {x.shape} with strides {x.data.strides} (not contiguous, e.g. a transpose) "
            f"cannot be viewed as shape {new_shape} without copying; use .reshape(...) (which copies when it "
            "must) or .contiguous().view(...)"
        )
    return reshape(x, new_shape)


class Permute(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    def forward(self, x, *, axes):
        self.axes = axes
        return np.transpose(x, axes)

    vjp_rule = VjpRule(
        {"x": "{g} permuted back (inverse permutation)"},
        plain="the axes were reordered: the gradient's axes are put back",
        settings={"axes": None},
    )

    def backward(self, g):
        # Undo the permutation: the inverse of `axes` is its argsort.
        return (g.transpose(tuple(np.argsort(self.axes))),)


def transpose(x: Tensor, *axes: Any) -> Tensor:
    """Permute the axes, numpy's way: no arguments reverses them.

    PyTorch's transpose(dim0, dim1) swaps two axes instead; that is
    `swapaxes(dim0, dim1)` here. The one call that would silently mean two
    different things, `transpose(0, 1)` on a matrix (numpy: no change;
    PyTorch: the transpose), is refused with a message naming both.
    """
    pair_of_ints = len(axes) == 2 and not isinstance(axes[0], (tuple, list))
    axes = tuple(reversed(range(x.ndim))) if not axes else shape_arg(axes, "transpose", "axes")
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
    return share_version(Permute.apply(x, axes=axes), x)


def t(x: Tensor) -> Tensor:
    """PyTorch's t(): the transpose of a matrix; a 0-d or 1-d tensor is returned as it is."""
    if x.ndim > 2:
        raise ValueError(f"t: expects a tensor with at most 2 dimensions, got shape {x.shape}; "
                         "use permute(...) or swapaxes(a, b) for more")
    return transpose(x) if x.ndim == 2 else x


def swapaxes(x: Tensor, axis1: int, axis2: int) -> Tensor:
    """Exchange two axes."""
    axes = list(range(x.ndim))
    (i,) = normalize_axes(axis1, x.ndim, "swapaxes")
    (j,) = normalize_axes(axis2, x.ndim, "swapaxes")
    axes[i], axes[j] = axes[j], axes[i]
    return transpose(x, tuple(axes))


class BroadcastTo(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    def forward(self, x, *, shape):
        return np.broadcast_to(x, shape)

    vjp_rule = VjpRule(
        {"x": "{g} summed over the broadcast axes"},
        plain="an element copied to many places gets the sum of their gradients",
    )

    def backward(self, g):
        return (sum_to(g, self.parents[0].shape),)


def broadcast_to(x: Tensor, *shape: Any) -> Tensor:
    """Repeat along size-1 (or new leading) axes to `shape`; the gradient sums them back."""
    shape = shape_arg(shape, "broadcast_to")
    if shape == x.shape:
        return x
    try:
        np.broadcast_shapes(x.shape, shape)
        if len(shape) < x.ndim or np.broadcast_shapes(x.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast a tensor of shape {x.shape} to {shape}") from None
    return share_version(BroadcastTo.apply(x, shape=shape), x)


def sum_to(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Sum `x` down to `shape`: the reverse of broadcasting `shape` up to x.shape."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)
    return reduce_sum(x, axes, keepdims=True).reshape(shape)


def squeeze(x: Tensor, axis: Axis = None, *, dim: Axis = None) -> Tensor:
    """Remove size-1 axes (all of them, or the ones named by `axis` or PyTorch's `dim`).

    A named axis whose size is not 1 is an error (PyTorch leaves it as it is).
    """
    axis = axis_arg("squeeze", axis, dim)
    if axis is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    else:
        axes = normalize_axes(axis, x.ndim, "squeeze")
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of shape {x.shape} has size {x.shape[a]}, not 1")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x: Tensor, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Insert a size-1 axis at position `axis` (or PyTorch's `dim`; negative counts from the end of the result)."""
    axis = axis_arg("unsqueeze", axis, dim)
    if axis is None:
        raise TypeError("unsqueeze: missing the position of the new axis (axis= or dim=)")
    axis = as_int(axis, "unsqueeze", "axis")
    ndim = x.ndim + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"unsqueeze: axis {axis} is out of range for a result with {ndim} dimensions")
    axis %= ndim
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes start_dim..end_dim into one (all of them by default)."""
    if x.ndim == 0:
        return reshape(x, (1,))
    (start,) = normalize_axes(start_dim, x.ndim, "flatten")
    (end,) = normalize_axes(end_dim, x.ndim, "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {x.shape}")
    merged = math.prod(x.shape[start : end + 1])
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1 :])


class Pad(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    def forward(self, x, *, pad_width, value):
        self.pad_width = pad_width
        return np.pad(x, pad_width, mode="constant", constant_values=value)

    vjp_rule = VjpRule(
        {"x": "{g} without the padding (its middle part)"},
        plain="the padding is not an input: its gradient is dropped",
    )

    def backward(self, g):
        x = self.parents[0]
        inner = tuple(slice(before, before + n) for (before, _), n in zip(self.pad_width, x.shape, strict=True))
        return (g[inner],)


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
    pairs = tuple((int(a), int(b)) for a, b in widths)
    return Pad.apply(x, pad_width=pairs, value=as_number(value, "pad", "value"))


def normalize_index(index: Any) -> Any:
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


def _is_basic_index(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return not any(isinstance(i, np.ndarray) and i.dtype != bool for i in items)


class GetItem(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    def forward(self, x, *, index):
        self.index = index
        return x[index]

    vjp_rule = VjpRule(
        {"x": "zeros of x's shape with {g} added at [index]"},
        plain="only the elements picked out get gradient (added up where picked twice)",
    )

    def backward(self, g):
        return (ScatterAdd.apply(g, shape=self.parents[0].shape, index=self.index),)


def getitem(x: Tensor, index: Any) -> Tensor:
    """x[index]: ints, slices (with steps), None, Ellipsis, integer arrays, boolean masks."""
    index = normalize_index(index)
    try:
        return share_version(GetItem.apply(x, index=index), x)  # a view for basic indices
    except IndexError as error:
        raise IndexError(f"getitem: index {index!r} does not fit a tensor of shape {x.shape}: {error}") from None


class ScatterAdd(Function):
    """zeros(shape) with g added at x[index]: the VJP of indexing."""
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes

    def forward(self, g, *, shape, index):
        self.index = index
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
        return (gg[self.index],)


def _tensor_list(tensors: Sequence[Any], op: str) -> list[Tensor]:
    """The tensors to join, as a list of Tensors (arrays become tensors); at least one."""
    if isinstance(tensors, Tensor):
        raise TypeError(f"{op}: tensors must be a list or tuple of tensors, got a single Tensor")
    joined = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not joined:
        raise ValueError(f"{op}: need at least one tensor")
    return joined


class Concatenate(Function):
    reads_inputs = False  # backward needs only the inputs' shapes and dtypes
    def forward(self, *arrays, axis):
        self.axis = axis
        return np.concatenate(arrays, axis=axis)

    vjp_rule = VjpRule(
        {"xᵢ": "the slice of {g} where {xᵢ} sits along axis"},
        plain="each input gets the slice of the gradient where it sits",
        settings={"axis": None},
    )

    def backward(self, g):
        axis = self.axis
        grads, start = [], 0
        for p in self.parents:
            index = (slice(None),) * axis + (slice(start, start + p.shape[axis]),)
            grads.append(g[index])
            start += p.shape[axis]
        return tuple(grads)


def concatenate(tensors: Sequence[Tensor], axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis (`axis`, or PyTorch's `dim`; default 0). `cat` is the same function."""
    axis = axis_arg("concatenate", axis, dim, default=0)
    tensors = _tensor_list(tensors, "concatenate")
    first = tensors[0]
    if first.ndim == 0:
        raise ValueError("concatenate: zero-dimensional tensors cannot be concatenated; use stack")
    (axis,) = normalize_axes(axis, first.ndim, "concatenate")
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
    tensors = _tensor_list(tensors, "stack")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape}, tensor 0 has shape {tensors[0].shape}")
    axis = as_int(axis, "stack", "axis")
    ndim = tensors[0].ndim + 1
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"stack: axis {axis} is out of range for stacking tensors of shape {tensors[0].shape} "
            f"(the result has {ndim} dimensions)"
        )
    return concatenate([unsqueeze(t, axis) for t in tensors], axis=axis % ndim)


class Clone(Function):
    """A copy of x in new memory, recorded in the graph."""

    reads_inputs = False  # backward needs only the inputs' shapes and dtypes

    def forward(self, x):
        return x.copy()

    vjp_rule = VjpRule({"x": "{g}"}, plain="a copy passes the gradient back unchanged")

    def backward(self, g):
        return (g,)


def clone(x: Tensor) -> Tensor:
    """A copy of x with its own memory, as PyTorch's clone: in the graph, so the
    gradient flows back to x unchanged; an in-place change of one leaves the other as it was."""
    return Clone.apply(x)


def contiguous(x: Tensor) -> Tensor:
    """x itself if its array is C-contiguous (row-major without gaps), else a contiguous clone."""
    return x if x.data.flags.c_contiguous else clone(x)


# The forwards above never write into their input arrays (see Function.guards_inputs).
trust_forward(Reshape, Permute, BroadcastTo, Pad, GetItem, ScatterAdd, Concatenate, Clone)
