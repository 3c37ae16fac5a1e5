"""In-place Tensor methods: zero_, fill_, copy_, add_, sub_, mul_ (PyTorch's names) and `t[index] = value`.

Each one writes into the tensor's own array, so every tensor that shares the
array sees the change, and returns the tensor itself. None of them is
recorded in the graph, so they follow PyTorch's rules:

- On a leaf that requires grad (a parameter) they are refused while
  gradients are recorded; inside `with no_grad():` they are allowed (that is
  how weights are initialised or updated by hand).
- On a tensor computed by a recorded op they are refused too (PyTorch would
  record them; this library does not): write `y = y + x` instead.

Every change bumps the tensor's version counter (`_version`), so a backward
pass that needs the old values raises instead of silently using the new ones
(docs/autograd.md, "In-place operations").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..grad_mode import is_grad_enabled
from ..tensor import Tensor, bump_version
from .shape import normalize_index


def _check_writable(tensor: Tensor, op: str) -> None:
    """Refuse an in-place change that would make recorded gradients wrong."""
    if is_grad_enabled() and tensor.requires_grad:
        fn = tensor.grad_fn
        if fn is None:
            raise RuntimeError(
                f"{op}: a leaf tensor that requires grad (shape {tensor.shape}) cannot be changed in place "
                "while gradients are recorded; do it inside `with tinygrad_cnn.no_grad():`"
            )
        raise RuntimeError(
            f"{op}: in-place changes are not recorded in the graph, and this tensor (shape {tensor.shape}) was "
            f"computed by a recorded op ({fn.name}); use the out-of-place form, e.g. y = y + x"
        )
    if not tensor.data.flags.writeable:
        raise ValueError(
            f"{op}: the tensor's array (shape {tensor.shape}) is read-only (a broadcast_to result, or a read-only "
            "numpy array); copy it first"
        )


def _check_not_recorded(value: Any, op: str, name: str) -> None:
    """Refuse a source that requires grad: its gradient would be lost, as in-place ops are not recorded."""
    if isinstance(value, Tensor) and is_grad_enabled() and value.requires_grad:
        raise RuntimeError(
            f"{op}: {name} requires grad, but in-place operations are not recorded in the graph; "
            "use the out-of-place form (y = y + x), or do it inside `with tinygrad_cnn.no_grad():`"
        )


def _numeric_array(value: Any, op: str, what: str) -> np.ndarray:
    """The array of a Tensor, an array or a number; a TypeError for anything else or a non-numeric dtype."""
    if isinstance(value, Tensor):
        array = value.data
    elif isinstance(value, (bool, int, float, np.number, np.ndarray, list, tuple)):
        array = np.asarray(value)
    else:
        raise TypeError(f"{op}: {what} must be a Tensor, an array or a number, got {type(value).__name__}")
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{op}: unsupported dtype {array.dtype} of {what}")
    return array


def _operand(other: Any, tensor: Tensor, op: str) -> np.ndarray:
    """The other operand as an array that broadcasts to the tensor's shape (it cannot grow the tensor)."""
    _check_not_recorded(other, op, "the other operand")
    array = _numeric_array(other, op, "the other operand")
    try:
        fits = np.broadcast_shapes(array.shape, tensor.shape) == tensor.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{op}: an operand of shape {array.shape} cannot be broadcast to the tensor's shape "
                         f"{tensor.shape} (an in-place result keeps the tensor's shape)")
    if array.dtype.kind == "f" and tensor.dtype.kind != "f":
        raise TypeError(f"{op}: a {array.dtype} operand cannot be written into a {tensor.dtype} tensor in place")
    return array


def _changed(tensor: Tensor) -> Tensor:
    bump_version(tensor)  # for a view, this bumps the counter it shares with its base
    return tensor


def zero_(self: Tensor) -> Tensor:
    """Set every element to 0, in place; returns self."""
    _check_writable(self, "zero_")
    self.data[...] = 0
    return _changed(self)


def fill_(self: Tensor, value: Any) -> Tensor:
    """Set every element to `value` (a number or a one-element tensor), in place; returns self.

    As in PyTorch, the value is converted to the tensor's dtype (2.7 fills an
    integer tensor with 2).
    """
    _check_writable(self, "fill_")
    _check_not_recorded(value, "fill_", "value")
    is_number = isinstance(value, (bool, int, float, np.number, np.ndarray))
    array = value.data if isinstance(value, Tensor) else np.asarray(value) if is_number else None
    if array is None or array.dtype.kind not in "fiub" or array.size != 1:
        shape = f" of shape {array.shape}" if array is not None else ""
        raise ValueError(f"fill_: value must be a number or a one-element tensor, got a "
                         f"{type(value).__name__}{shape}")
    if self.dtype.kind in "iub" and not np.isfinite(array).all():
        raise ValueError(f"fill_: cannot fill a {self.dtype} tensor with {array.item()}")
    self.data[...] = array.reshape(()).astype(self.dtype)
    return _changed(self)


def copy_(self: Tensor, src: Any) -> Tensor:
    """Copy the values of `src` (broadcast to self's shape, cast to self's dtype) into self; returns self."""
    _check_writable(self, "copy_")
    _check_not_recorded(src, "copy_", "src")
    array = src.data if isinstance(src, Tensor) else np.asarray(src)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"copy_: unsupported source dtype {array.dtype}")
    try:
        np.copyto(self.data, np.broadcast_to(array, self.shape), casting="unsafe")
    except ValueError:
        raise ValueError(f"copy_: a source of shape {array.shape} cannot be broadcast to the tensor's shape "
                         f"{self.shape}") from None
    return _changed(self)


def _check_alpha(alpha: Any, tensor: Tensor, op: str) -> None:
    if not isinstance(alpha, (int, float, np.number)) or isinstance(alpha, bool):
        raise TypeError(f"{op}: alpha must be a number, got {type(alpha).__name__}")
    if tensor.dtype.kind != "f" and not float(alpha).is_integer():
        raise TypeError(f"{op}: alpha={alpha} cannot scale a {tensor.dtype} tensor in place")


def add_(self: Tensor, other: Any, alpha: float = 1) -> Tensor:
    """self += alpha * other, in place; returns self."""
    _check_writable(self, "add_")
    _check_alpha(alpha, self, "add_")
    array = _operand(other, self, "add_")
    self.data += array if alpha == 1 else (alpha * array).astype(self.dtype, copy=False)
    return _changed(self)


def sub_(self: Tensor, other: Any, alpha: float = 1) -> Tensor:
    """self -= alpha * other, in place; returns self."""
    _check_writable(self, "sub_")
    _check_alpha(alpha, self, "sub_")
    array = _operand(other, self, "sub_")
    self.data -= array if alpha == 1 else (alpha * array).astype(self.dtype, copy=False)
    return _changed(self)


def mul_(self: Tensor, other: Any) -> Tensor:
    """self *= other, in place; returns self."""
    _check_writable(self, "mul_")
    self.data *= _operand(other, self, "mul_")
    return _changed(self)


def setitem(self: Tensor, index: Any, value: Any) -> None:
    """t[index] = value: write into the tensor's own array, as numpy and PyTorch do.

    The value (a number, an array or a tensor) is broadcast to the indexed
    part and converted to the tensor's dtype. The rules of the other in-place
    methods apply: a parameter only inside `no_grad()`, never a tensor computed
    by a recorded op (PyTorch would record the write; this library does not:
    use `tinygrad_cnn.where(mask, value, t)` for a differentiable version).
    The version counter is bumped, so a graph that read the old values
    refuses to run backward.
    """
    _check_writable(self, "setitem (t[index] = value)")
    _check_not_recorded(value, "setitem (t[index] = value)", "the value")
    array = _numeric_array(value, "setitem", "the value")
    if self.dtype.kind in "iub" and array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"setitem: cannot write {array[~np.isfinite(array)].flat[0]} into a {self.dtype} tensor")
    index = normalize_index(index)
    try:
        target_shape = self.data[index].shape
    except IndexError as error:
        raise IndexError(f"setitem: index {index!r} does not fit a tensor of shape {self.shape}: {error}") from None
    try:
        self.data[index] = array
    except ValueError:
        raise ValueError(f"setitem: a value of shape {array.shape} cannot be broadcast to the indexed part of "
                         f"shape {target_shape} (tensor shape {self.shape})") from None
    _changed(self)
