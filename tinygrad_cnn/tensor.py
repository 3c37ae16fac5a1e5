"""Tensor: an n-dimensional array that remembers how it was computed.

A `Tensor` wraps a numpy array (`.data`). When an op runs on tensors that
require gradients, it records a `Function` node (function.py) on its result:
`t.grad_fn`, whose `parents` are the op's inputs. Following them back from a
result gives the computation graph, built as Python runs (define-by-run).
`t.backward()` walks that graph backwards (backward.py) and leaves in each
leaf's `.grad` the gradient of t with respect to it.

Every method and operator of Tensor is declared in the class body below, each
a line or two that calls the op (in the ops package), so an editor and a type
checker see all of them. The ops make Tensors and Tensor's methods call the
ops: each needs the other. Python cannot import two modules that import each
other without one of them being half-made at the time, so this module imports
neither the ops nor the backward pass: the package's `__init__` imports all
three and hands the two others to this one (`connect`). Imports in the
package go one way only (a test checks it).
"""

from __future__ import annotations

import builtins
import weakref
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias, overload

import numpy as np

if TYPE_CHECKING:  # for the type checker; at run time `connect` sets ops and backward_pass
    from . import backward as backward_pass
    from . import ops
    from .function import Function
    from .ops.reductions import ValuesIndices

# What the binary ops take as their other operand: a tensor, a number or an array.
Operand: TypeAlias = "Tensor | builtins.float | builtins.int | builtins.bool | np.ndarray | np.generic"
# An axis argument: one axis, several, or None for all of them.
Axis: TypeAlias = "builtins.int | Sequence[builtins.int] | None"


def connect(ops_package: ModuleType, backward_module: ModuleType) -> None:
    """Give Tensor's methods the ops and the backward pass (called once, by the package's __init__)."""
    global ops, backward_pass
    ops = ops_package
    backward_pass = backward_module


# ---------------------------------------------------------------------------
# Making tensors from user data
# ---------------------------------------------------------------------------


def as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert user data to an ndarray with the library's dtype rules.

    Python floats (and lists of them) become float32, as in PyTorch; Python
    ints and bools keep an integer or bool dtype; numpy arrays keep theirs.
    """
    if isinstance(data, Tensor):
        data = data.data.copy()  # as torch.tensor(t): a new tensor, not a view of t's memory
    if isinstance(data, (np.ndarray, np.generic)):
        array = np.asarray(data)
    else:
        if isinstance(data, (list, tuple)) and any(isinstance(item, Tensor) for item in data):
            data = tensor_items(data)
        try:
            array = np.asarray(data)
        except ValueError as error:  # numpy's "inhomogeneous shape" message names no tensor
            raise ValueError(
                f"Tensor: cannot make a tensor from a ragged nested list (rows of different lengths): {error}"
            ) from None
        if array.dtype == np.float64:
            with np.errstate(over="ignore"):  # 1e40 becomes inf, as in PyTorch, without a warning
                array = array.astype(np.float32)
        elif array.dtype.kind == "O":
            raise TypeError(f"Tensor: cannot make a tensor from {type(data).__name__} data")
    if dtype is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            array = array.astype(dtype, copy=False)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"Tensor: unsupported dtype {array.dtype}; use float, int or bool data")
    return array


def tensor_items(items: list | tuple) -> list:
    """A list holding Tensors, as PyTorch's torch.tensor takes it: 0-d tensors
    count as numbers (their values are copied, not their graph); others are refused."""
    values = []
    for i, item in enumerate(items):
        if isinstance(item, Tensor):
            if item.ndim != 0:
                raise ValueError(
                    f"Tensor: item {i} of the list is a tensor of shape {item.shape}; only 0-d tensors can be "
                    "items of a list given to Tensor(...). To join tensors use tinygrad_cnn.stack(tensors)"
                )
            item = item.data
        values.append(item)
    return values


class SizeMethod:
    """`t.size`: PyTorch's method. `t.size()` is the shape, `t.size(d)` the length of dimension d.

    numpy's `a.size` is an attribute holding the number of elements; here that
    is `t.numel()`. The numpy habit (`t.size == 0`, `x / t.size`, `if t.size:`)
    raises a TypeError that says so, instead of silently comparing a method.
    """

    __slots__ = ("_shape",)

    def __init__(self, shape: tuple[int, ...]) -> None:
        self._shape = shape

    def __call__(self, dim: int | None = None) -> tuple[int, ...] | int:
        if dim is None:
            return self._shape
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
            raise TypeError(f"size: dim must be an int, got {type(dim).__name__} {dim!r}")
        ndim = len(self._shape)
        if not -ndim <= dim < ndim:
            raise IndexError(f"size: dim {dim} is out of range for a tensor of shape {self._shape}")
        return self._shape[dim]

    def _used_as_a_number(self, *args: Any) -> Any:
        raise TypeError(
            "size: t.size is a method here, as in PyTorch: t.size() is the shape and t.size(d) one dimension; "
            "for the number of elements (numpy's a.size) use t.numel()"
        )

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _used_as_a_number
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _used_as_a_number
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _used_as_a_number
    __int__ = __index__ = __float__ = __bool__ = _used_as_a_number
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<method size of a tensor of shape {self._shape}: call it, t.size(), or use t.numel() for the count>"


class Device:
    """A device, as PyTorch's torch.device. This library computes with numpy on the CPU only."""

    __slots__ = ("type",)

    def __init__(self, type: str = "cpu") -> None:
        if type != "cpu":
            raise ValueError(f"device: only 'cpu' is available (this library computes with numpy), got {type!r}")
        self.type = type

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (Device, str)) and str(other) == self.type

    def __hash__(self) -> int:
        return hash(self.type)

    def __str__(self) -> str:
        return self.type

    def __repr__(self) -> str:
        return f"device(type={self.type!r})"


CPU = Device("cpu")


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    `Tensor(data, requires_grad=False, dtype=None, name=None)`
    """

    # __slots__ keeps tensors small and attribute access fast: the engine makes
    # one Tensor per op, so this is on the hot path. _version counts the
    # in-place changes of the data; _base is set only for views and detached
    # tensors (see ViewTensor and DetachedTensor below).
    __slots__ = ("data", "requires_grad", "grad", "_ctx", "name", "_retains_grad", "_version", "_base",
                 "__weakref__")
    # A view's tensor that owns the memory; a detached tensor's weak reference
    # to the tensor it was detached from (only ViewTensor and DetachedTensor set it).
    _base: Any

    def __init__(self, data: Any, requires_grad: builtins.bool = False, dtype: Any = None,
                 name: str | None = None) -> None:
        self.data: np.ndarray = as_array(data, dtype)
        self.grad: Tensor | None = None
        self._ctx: Function | None = None
        self.name = name
        self._retains_grad = False
        self._version = 0
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data: np.ndarray) -> Tensor:
        # A fast constructor for op results: the data is already a valid array.
        t = cls.__new__(cls)
        t.data = data
        t.requires_grad = False
        t.grad = None
        t._ctx = None
        t.name = None
        t._retains_grad = False
        t._version = 0
        return t

    # --- what the array is --------------------------------------------------
    # Each reads its answer off the numpy array; the except clauses cost
    # nothing unless something other than an array was assigned to .data.

    @property
    def shape(self) -> tuple[builtins.int, ...]:
        try:
            return self.data.shape
        except AttributeError:
            raise self._not_an_array("shape") from None

    @property
    def ndim(self) -> builtins.int:
        try:
            return self.data.ndim
        except AttributeError:
            raise self._not_an_array("ndim") from None

    @property
    def dtype(self) -> np.dtype:
        try:
            return self.data.dtype
        except AttributeError:
            raise self._not_an_array("dtype") from None

    def _not_an_array(self, attribute: str) -> TypeError:
        return TypeError(
            f"Tensor.{attribute}: the tensor holds a {type(self.data).__name__} in .data, not a numpy array; "
            "assign arrays to .data (e.g. t.data = np.asarray(values, dtype=np.float32))"
        )

    @property
    def size(self) -> SizeMethod:
        """PyTorch's method: `t.size()` is the shape, `t.size(d)` one dimension.

        Unlike numpy's `a.size` (an int); the number of elements is `t.numel()`.
        """
        return SizeMethod(self.data.shape)

    def numel(self) -> builtins.int:
        """The number of elements (PyTorch's name for numpy's `.size`)."""
        return self.data.size

    def dim(self) -> builtins.int:
        """The number of dimensions (PyTorch's name for `.ndim`)."""
        return self.data.ndim

    @property
    def device(self) -> Device:
        """Where the data lives: always the CPU (numpy), `device(type='cpu')`."""
        return CPU

    @property
    def is_leaf(self) -> builtins.bool:
        """A leaf was made by the user, not by an op that is being recorded."""
        return self._ctx is None

    @property
    def grad_fn(self) -> Function | None:
        """The Function that made this tensor (None for leaves)."""
        return self._ctx

    def __len__(self) -> builtins.int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # --- to Python and numpy ------------------------------------------------

    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def item(self) -> builtins.float | builtins.int | builtins.bool:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, got shape {self.shape}")
        return self.data.item()

    def _one_value(self, what: str) -> builtins.float | builtins.int | builtins.bool:
        if self.data.size != 1:
            raise TypeError(
                f"{what}: only a tensor with one element can be converted to a Python number, got shape "
                f"{self.shape}; reduce it first (e.g. t.mean()) or index one element (t[0])"
            )
        return self.data.item()

    def __float__(self) -> builtins.float:
        """float(t) for a tensor of one element (a loss, say): its value, without the graph."""
        return builtins.float(self._one_value("float"))

    def __int__(self) -> builtins.int:
        """int(t) for a tensor of one element: its value truncated toward zero, as int(2.7) is 2."""
        return builtins.int(self._one_value("int"))

    def __format__(self, spec: str) -> str:
        """f"{loss:.3f}": a format spec formats the value of a one-element tensor; no spec gives str(t)."""
        if not spec:
            return str(self)
        return format(self._one_value(f"format with {spec!r}"), spec)

    def tolist(self) -> Any:
        return self.data.tolist()

    def __bool__(self) -> builtins.bool:
        if self.data.size != 1:
            raise ValueError(
                f"bool: the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()"
            )
        return builtins.bool(self.data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        # np.array(t) asks for a copy (copy=True): writing into it must not change t.
        return self.data.copy() if copy else self.data

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", threshold=50, prefix="tensor(")
        extras = [f"shape={self.shape}", f"dtype={self.dtype}"]
        if self._ctx is not None:
            extras.append(f"grad_fn={self._ctx.name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return f"tensor({body}, {', '.join(extras)})"

    # `==` is elementwise (it returns a Tensor), so Python would make tensors
    # unhashable; hash them by identity, as objects are by default. Being the
    # built-in hash, it costs no Python call when the engine keeps tensors in
    # sets and dicts (the backward pass does so for every node).
    __hash__ = object.__hash__

    # numpy must not compute on a tensor's bare array (through __array__): the
    # result would be a plain array, cut off from the graph. `ndarray + t` is
    # computed by the tensor ops; other numpy functions raise a TypeError
    # naming the fix (ops/numpy_protocol.py).

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return ops.numpy_ufunc_on_tensor(ufunc, method, *inputs, **kwargs)

    def __array_function__(self, func: Callable[..., Any], types: Any, args: Any, kwargs: Any) -> Any:
        return ops.numpy_function_on_tensor(func, args, kwargs)

    # --- gradients ------------------------------------------------------------

    def backward(self, gradient: Any = None, retain_graph: builtins.bool = False,
                 create_graph: builtins.bool = False) -> None:
        """Compute the gradient of this tensor with respect to every leaf.

        Gradients are *added* to the `.grad` of each leaf that requires grad,
        so call `zero_grad()` (or set `.grad = None`) between steps.

        gradient: the upstream gradient dL/dself; needed unless self is a scalar.
        retain_graph: keep the saved values so backward can run through this
            graph again (create_graph implies it).
        create_graph: record the backward pass itself, so the gradients can be
            differentiated again (second derivatives, Hessian-vector products).
        """
        backward_pass.backward(self, gradient, retain_graph, create_graph)

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut off from the graph.

        Detached from a leaf (a parameter, say), it shares the leaf's version
        counter too, so an in-place change through it is seen by backward.
        Detached from a computed tensor, it has a counter of its own, and each
        in-place change through it is also counted on that tensor, through a
        weak reference: a strong one would keep the whole graph alive for as
        long as the detached tensor lives (`losses.append(loss.detach())`).
        """
        out = Tensor._make(self.data)
        owner = self._base if isinstance(self, ViewTensor) else self
        if owner._ctx is None:
            share_version(out, owner)
        else:
            out.__class__ = DetachedTensor  # same slots, so the class can change in place
            out._base = weakref.ref(owner)
        return out

    def requires_grad_(self, requires_grad: builtins.bool = True) -> Tensor:
        """Mark a leaf as needing gradients (in place); returns self."""
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"requires_grad: only floating-point tensors can require gradients, got dtype {self.dtype}"
            )
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_: cannot turn off gradients of a non-leaf tensor; use detach()")
        self.requires_grad = builtins.bool(requires_grad)
        return self

    def retain_grad(self) -> Tensor:
        """Keep `.grad` on this non-leaf tensor after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        self._retains_grad = True
        return self

    # --- arithmetic (ops/elementwise.py) -----------------------------------------
    # The reflected forms (`2 * x` is `x.__rmul__(2)`) swap the operands back.

    def __add__(self, other: Operand) -> Tensor:
        return ops.add(self, other)

    def __radd__(self, other: Operand) -> Tensor:
        return ops.add(other, self)

    def __sub__(self, other: Operand) -> Tensor:
        return ops.sub(self, other)

    def __rsub__(self, other: Operand) -> Tensor:
        return ops.sub(other, self)

    def __mul__(self, other: Operand) -> Tensor:
        return ops.mul(self, other)

    def __rmul__(self, other: Operand) -> Tensor:
        return ops.mul(other, self)

    def __truediv__(self, other: Operand) -> Tensor:
        return ops.div(self, other)

    def __rtruediv__(self, other: Operand) -> Tensor:
        return ops.div(other, self)

    def __pow__(self, exponent: Operand) -> Tensor:
        return ops.power(self, exponent)

    def __rpow__(self, base: Operand) -> Tensor:
        return ops.power(base, self)

    def __matmul__(self, other: Tensor) -> Tensor:
        return ops.matmul(self, other)

    def __rmatmul__(self, other: Tensor) -> Tensor:
        return ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return ops.neg(self)

    def __abs__(self) -> Tensor:
        return ops.absolute(self)

    # Comparisons give bool tensors (no gradient), elementwise as in numpy and PyTorch.

    def __lt__(self, other: Operand) -> Tensor:
        return ops.compare(np.less, "lt (<)", self, other)

    def __le__(self, other: Operand) -> Tensor:
        return ops.compare(np.less_equal, "le (<=)", self, other)

    def __gt__(self, other: Operand) -> Tensor:
        return ops.compare(np.greater, "gt (>)", self, other)

    def __ge__(self, other: Operand) -> Tensor:
        return ops.compare(np.greater_equal, "ge (>=)", self, other)

    def __eq__(self, other: object) -> Tensor:  # type: ignore[override]  # elementwise, as in numpy
        return ops.compare(np.equal, "eq (==)", self, other)

    def __ne__(self, other: object) -> Tensor:  # type: ignore[override]  # elementwise, as in numpy
        return ops.compare(np.not_equal, "ne (!=)", self, other)

    def pow(self, exponent: Operand) -> Tensor:
        """See `tinygrad_cnn.ops.power`."""
        return ops.power(self, exponent)

    def exp(self) -> Tensor:
        """See `tinygrad_cnn.exp`."""
        return ops.exp(self)

    def log(self) -> Tensor:
        """See `tinygrad_cnn.log`."""
        return ops.log(self)

    def sqrt(self) -> Tensor:
        """See `tinygrad_cnn.sqrt`."""
        return ops.sqrt(self)

    def abs(self) -> Tensor:
        """See `tinygrad_cnn.abs`."""
        return ops.absolute(self)

    def sigmoid(self) -> Tensor:
        """See `tinygrad_cnn.sigmoid`."""
        return ops.sigmoid(self)

    def tanh(self) -> Tensor:
        """See `tinygrad_cnn.tanh`."""
        return ops.tanh(self)

    def relu(self) -> Tensor:
        """See `tinygrad_cnn.relu`."""
        return ops.relu(self)

    def clip(self, lo: builtins.float | None = None, hi: builtins.float | None = None, *,
             min: builtins.float | None = None, max: builtins.float | None = None) -> Tensor:
        """See `tinygrad_cnn.clip`."""
        return ops.clip(self, lo, hi, min=min, max=max)

    def clamp(self, min: builtins.float | None = None, max: builtins.float | None = None) -> Tensor:
        """PyTorch's name for clip."""
        return ops.clip(self, min=min, max=max)

    # --- reductions (ops/reductions.py) -------------------------------------------

    def sum(self, axis: Axis = None, keepdims: builtins.bool | None = None, *, dim: Axis = None,
            keepdim: builtins.bool | None = None) -> Tensor:
        """See `tinygrad_cnn.sum`."""
        return ops.reduce_sum(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def mean(self, axis: Axis = None, keepdims: builtins.bool | None = None, *, dim: Axis = None,
             keepdim: builtins.bool | None = None) -> Tensor:
        """See `tinygrad_cnn.mean`."""
        return ops.mean(self, axis, keepdims, dim=dim, keepdim=keepdim)

    # Given PyTorch's dim=, max and min return (values, indices), as PyTorch does.
    @overload
    def max(self, axis: Axis | Tensor = None, keepdims: builtins.bool | None = None, *, dim: None = None,
            keepdim: builtins.bool | None = None) -> Tensor: ...
    @overload
    def max(self, axis: Axis | Tensor = None, keepdims: builtins.bool | None = None, *, dim: builtins.int,
            keepdim: builtins.bool | None = None) -> ValuesIndices: ...
    def max(self, axis: Axis | Tensor = None, keepdims: builtins.bool | None = None, *,
            dim: builtins.int | None = None, keepdim: builtins.bool | None = None) -> Tensor | ValuesIndices:
        """See `tinygrad_cnn.max`."""
        return ops.reduce_max(self, axis, keepdims, dim=dim, keepdim=keepdim)

    @overload
    def min(self, axis: Axis | Tensor = None, keepdims: builtins.bool | None = None, *, dim: None = None,
            keepdim: builtins.bool | None = None) -> Tensor: ...
    @overload
    def min(self, axis: Axis | Tensor = None, keepdims: builtins.bool | None = None, *, dim: builtins.int,
            keepdim: builtins.bool | None = None) -> ValuesIndices: ...
    def min(self, axis: Axis | Tensor = None, keepdims: builtins.bool | None = None, *,
            dim: builtins.int | None = None, keepdim: builtins.bool | None = None) -> Tensor | ValuesIndices:
        """See `tinygrad_cnn.min`."""
        return ops.reduce_min(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def var(self, axis: Axis = None, ddof: builtins.int | None = None, keepdims: builtins.bool | None = None, *,
            dim: Axis = None, keepdim: builtins.bool | None = None, correction: builtins.int | None = None,
            unbiased: builtins.bool | None = None) -> Tensor:
        """See `tinygrad_cnn.var`."""
        return ops.var(self, axis, ddof, keepdims, dim=dim, keepdim=keepdim, correction=correction,
                       unbiased=unbiased)

    def std(self, axis: Axis = None, ddof: builtins.int | None = None, keepdims: builtins.bool | None = None, *,
            dim: Axis = None, keepdim: builtins.bool | None = None, correction: builtins.int | None = None,
            unbiased: builtins.bool | None = None) -> Tensor:
        """See `tinygrad_cnn.std`."""
        return ops.std(self, axis, ddof, keepdims, dim=dim, keepdim=keepdim, correction=correction,
                       unbiased=unbiased)

    def argmax(self, axis: builtins.int | None = None, keepdims: builtins.bool | None = None, *,
               dim: builtins.int | None = None, keepdim: builtins.bool | None = None) -> Tensor:
        """See `tinygrad_cnn.argmax`."""
        return ops.argmax(self, axis, keepdims, dim=dim, keepdim=keepdim)

    def argmin(self, axis: builtins.int | None = None, keepdims: builtins.bool | None = None, *,
               dim: builtins.int | None = None, keepdim: builtins.bool | None = None) -> Tensor:
        """See `tinygrad_cnn.argmin`."""
        return ops.argmin(self, axis, keepdims, dim=dim, keepdim=keepdim)

    # --- shape and indexing (ops/shape.py) ----------------------------------------

    def reshape(self, *shape: Any) -> Tensor:
        """See `tinygrad_cnn.reshape`."""
        return ops.reshape(self, *shape)

    def view(self, *shape: Any) -> Tensor:
        """See `tinygrad_cnn.ops.view`."""
        return ops.view(self, *shape)

    def transpose(self, *axes: Any) -> Tensor:
        """See `tinygrad_cnn.ops.transpose`."""
        return ops.transpose(self, *axes)

    def permute(self, *axes: Any) -> Tensor:
        """See `tinygrad_cnn.ops.transpose`."""
        return ops.transpose(self, *axes)

    def swapaxes(self, axis1: builtins.int, axis2: builtins.int) -> Tensor:
        """See `tinygrad_cnn.ops.swapaxes`."""
        return ops.swapaxes(self, axis1, axis2)

    @property
    def T(self) -> Tensor:
        """See `tinygrad_cnn.ops.transpose`."""
        return ops.transpose(self)

    def t(self) -> Tensor:
        """See `tinygrad_cnn.ops.t`."""
        return ops.t(self)

    def flatten(self, start_dim: builtins.int = 0, end_dim: builtins.int = -1) -> Tensor:
        """See `tinygrad_cnn.flatten`."""
        return ops.flatten(self, start_dim, end_dim)

    def broadcast_to(self, *shape: Any) -> Tensor:
        """See `tinygrad_cnn.ops.broadcast_to`."""
        return ops.broadcast_to(self, *shape)

    def squeeze(self, axis: Axis = None, *, dim: Axis = None) -> Tensor:
        """See `tinygrad_cnn.squeeze`."""
        return ops.squeeze(self, axis, dim=dim)

    def unsqueeze(self, axis: builtins.int | None = None, *, dim: builtins.int | None = None) -> Tensor:
        """See `tinygrad_cnn.unsqueeze`."""
        return ops.unsqueeze(self, axis, dim=dim)

    def pad(self, pad_width: Any, value: builtins.float = 0.0) -> Tensor:
        """See `tinygrad_cnn.pad`."""
        return ops.pad(self, pad_width, value)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.getitem(self, index)

    def clone(self) -> Tensor:
        """See `tinygrad_cnn.clone`."""
        return ops.clone(self)

    def contiguous(self) -> Tensor:
        """See `tinygrad_cnn.ops.contiguous`."""
        return ops.contiguous(self)

    def matmul(self, other: Tensor) -> Tensor:
        """See `tinygrad_cnn.matmul`."""
        return ops.matmul(self, other)

    # --- dtype and device (ops/elementwise.py) --------------------------------------

    def astype(self, dtype: Any) -> Tensor:
        """See `tinygrad_cnn.ops.astype`."""
        return ops.astype(self, dtype)

    def to(self, *args: Any, dtype: Any = None, device: Any = None, copy: builtins.bool = False,
           non_blocking: builtins.bool = False) -> Tensor:
        """See `tinygrad_cnn.ops.to`."""
        return ops.to(self, *args, dtype=dtype, device=device, copy=copy, non_blocking=non_blocking)

    def cpu(self) -> Tensor:
        """x itself: every tensor lives on the CPU (PyTorch's `x.cpu()`)."""
        return self

    def double(self) -> Tensor:
        """x as float64 (PyTorch's `x.double()`)."""
        return ops.astype(self, np.float64)

    def half(self) -> Tensor:
        """x as float16 (PyTorch's `x.half()`)."""
        return ops.astype(self, np.float16)

    def long(self) -> Tensor:
        """x as int64 (PyTorch's `x.long()`): floats are truncated toward zero; no gradient."""
        return ops.astype(self, np.int64)

    # (float, int and bool last: defined earlier, their names would hide the
    # built-in types from the annotations of the methods below them.)

    def float(self) -> Tensor:
        """x as float32 (PyTorch's `x.float()`); x itself if it is float32 already."""
        return ops.astype(self, np.float32)

    def int(self) -> Tensor:
        """x as int32 (PyTorch's `x.int()`): floats are truncated toward zero; no gradient."""
        return ops.astype(self, np.int32)

    def bool(self) -> Tensor:
        """x as bool (PyTorch's `x.bool()`): nonzero is True; no gradient."""
        return ops.astype(self, np.bool_)

    # --- in place, not recorded (ops/inplace.py) --------------------------------------

    def __setitem__(self, index: Any, value: Any) -> None:
        ops.setitem(self, index, value)

    def zero_(self) -> Tensor:
        """See `tinygrad_cnn.ops.zero_`."""
        return ops.zero_(self)

    def fill_(self, value: Any) -> Tensor:
        """See `tinygrad_cnn.ops.fill_`."""
        return ops.fill_(self, value)

    def copy_(self, src: Any) -> Tensor:
        """See `tinygrad_cnn.ops.copy_`."""
        return ops.copy_(self, src)

    def add_(self, other: Any, alpha: builtins.float = 1) -> Tensor:
        """See `tinygrad_cnn.ops.add_`."""
        return ops.add_(self, other, alpha)

    def sub_(self, other: Any, alpha: builtins.float = 1) -> Tensor:
        """See `tinygrad_cnn.ops.sub_`."""
        return ops.sub_(self, other, alpha)

    def mul_(self, other: Any) -> Tensor:
        """See `tinygrad_cnn.ops.mul_`."""
        return ops.mul_(self, other)


# ---------------------------------------------------------------------------
# In-place changes: version counters
# ---------------------------------------------------------------------------
#
# A node's VJP may read its input tensors (Mul, MatMul) or its output (Exp).
# If one of them is changed in place between forward and backward, the VJP
# would silently compute with the new values. So every in-place change goes
# through bump_version, which adds 1 to the tensor's `_version` (PyTorch's
# counter). A recorded node saves the versions of the tensors its VJP reads
# (function.py), and backward compares them with the versions now.
# `InPlaceChanges.count`, the number of in-place changes in the whole program,
# spares backward that comparison: a node recorded at the count there is now
# has seen no change at all.


class InPlaceChanges:
    count = 0  # in-place changes so far, in the whole program


def bump_version(tensor: Tensor) -> None:
    """Record that `tensor`'s array was changed in place (call it after the change)."""
    owner = tensor._base if isinstance(tensor, ViewTensor) else tensor
    if isinstance(owner, DetachedTensor):
        source = owner._base()  # the computed tensor it was detached from, if still alive
        if source is not None:
            source._version += 1
    owner._version += 1
    InPlaceChanges.count += 1


class ViewTensor(Tensor):
    """A tensor whose array is a numpy view of another tensor's array (made by
    reshape, transpose, basic indexing, broadcast_to, or detach of a leaf).

    Writing into one changes the other, so they share one version counter:
    the base's. `_version` of a view is its base's, and bump_version on a view
    bumps the base. `_base` is the tensor that owns the memory (never a view).
    """

    __slots__ = ()

    @property
    def _version(self) -> builtins.int:
        return self._base._version

    @_version.setter
    def _version(self, value: builtins.int) -> None:
        pass  # a view has no counter of its own (copy.deepcopy and pickle set it)


class DetachedTensor(Tensor):
    """The result of `detach()` on a computed tensor: a leaf sharing its array.

    Its `_base` slot holds a weak reference to that tensor (the owner of the
    memory), and bump_version counts every in-place change of it there too,
    so backward through the graph sees the change (PyTorch shares one
    version counter between them). Being weak, the reference does not keep
    the graph alive: once the tensor is gone, nothing can read its values.
    """

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled and copied as a plain tensor: a weak reference cannot be
        # pickled, and a copy shares no memory with the tensor it came from.
        return (Tensor, (self.data, False, None, self.name))


def share_version(view: Tensor, base: Tensor) -> Tensor:
    """Mark `view` (a result of a view op on `base`) as sharing base's version counter."""
    if view is not base and type(view) is Tensor and np.may_share_memory(view.data, base.data):
        view.__class__ = ViewTensor  # same slots, so the class can change in place
        view._base = base._base if isinstance(base, ViewTensor) else base
    return view


def describe(tensor: Any) -> str:
    """How error messages name a tensor: its name if it has one, else shape and dtype."""
    shape_and_dtype = f"shape {tuple(tensor.shape)}, dtype {tensor.dtype}"
    described = f"{tensor.name!r} ({shape_and_dtype})" if tensor.name else f"a tensor of {shape_and_dtype}"
    if isinstance(tensor, ViewTensor):
        described += f", a view of {describe(tensor._base)}"
    return described
