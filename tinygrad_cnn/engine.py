"""The autograd engine: Tensor, Function, and the backward pass.

A `Tensor` wraps a numpy array. When an op runs on tensors that require
gradients, it records a `Function` node: the op, its input tensors (the
*parents*) and anything it saved for later. Following `_ctx` from a result back
through the parents gives the computation graph, built as Python runs
(define-by-run).

`backward()` walks that graph from the output back to the leaves in reverse
topological order and applies the chain rule: each Function turns the gradient
of its output into gradients of its inputs (its vector-Jacobian product, VJP).

The VJPs are written with Tensor ops, not raw numpy. With `create_graph=True`
the backward pass is itself recorded, so gradients can be differentiated again.
"""

from __future__ import annotations

import contextlib
import gc
import operator
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import memory
from .anomaly import _AnomalyMode, add_forward_trace, check_gradients, format_forward_trace, forward_trace
from .float_errors import quiet_region

# ---------------------------------------------------------------------------
# Recording on and off
# ---------------------------------------------------------------------------


class _GradModeState(threading.local):
    """Whether ops record the graph, per thread, as in PyTorch: a `no_grad()`
    block, or a backward pass (which records only with create_graph=True),
    in one thread does not stop another thread's forward pass from being
    recorded. The class attributes are each thread's starting values."""

    enabled = True
    # The dotted path of the nn.Module whose forward is running ("conv1",
    # "features.0"), recorded on each Function so drawings can group ops.
    module_path: str | None = None
    # The recorder of the step-through page while one is switched on in this
    # thread (`viz.record_backward`), else None. Off, it costs the backward
    # pass one `is not None` test per node and per wire.
    recorder: Any = None

    def __init__(self) -> None:
        # Run once in each thread that uses the state: values set on the
        # instance are read faster than the class's defaults (apply reads
        # them for every op).
        self.enabled = True
        self.module_path = None
        self.recorder = None


# The one instance: reading `_GradMode.enabled` gives the calling thread's value.
_GradMode = _GradModeState()


def is_grad_enabled() -> bool:
    """True when ops record the graph (the default)."""
    return _GradMode.enabled


class _SetGradMode(contextlib.ContextDecorator):
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        self.previous = _GradMode.enabled
        _GradMode.enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        _GradMode.enabled = self.previous

    def _recreate_cm(self) -> _SetGradMode:
        # As a decorator, a fresh object per call: a function that calls itself
        # must not overwrite the outer call's `previous`.
        return _SetGradMode(self.enabled)


def no_grad() -> _SetGradMode:
    """Turn recording off: `with no_grad(): ...` or `@no_grad()` on a function.

    Use it for evaluation and for updating parameters: nothing inside builds a
    graph, so it is faster and uses less memory.
    """
    return _SetGradMode(False)


def inference_mode(mode: bool = True) -> _SetGradMode:
    """PyTorch's `inference_mode`: here the same as `no_grad()` (nothing is recorded).

    `with inference_mode():` or `@inference_mode()`; inference_mode(False) records as usual.
    """
    if not isinstance(mode, bool):
        raise TypeError(f"inference_mode: mode must be True or False, got {type(mode).__name__} {mode!r}")
    return _SetGradMode(not mode)


def enable_grad() -> _SetGradMode:
    """Turn recording back on inside a `no_grad` block."""
    return _SetGradMode(True)


@contextlib.contextmanager
def module_scope(name: str):
    """Ops recorded inside are tagged with the module path (nested scopes join
    with dots: "features" then "conv1" gives "features.conv1")."""
    previous = _GradMode.module_path
    _GradMode.module_path = name if previous is None else f"{previous}.{name}"
    try:
        yield
    finally:
        _GradMode.module_path = previous


def current_module_path() -> str | None:
    """The path of the innermost module_scope, or None outside any."""
    return _GradMode.module_path


# ---------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------


def _as_array(data: Any, dtype: Any = None) -> np.ndarray:
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
            data = _tensor_items(data)
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


def _tensor_items(items: list | tuple) -> list:
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

    def __init__(self, type: str = "cpu") -> None:  # noqa: A002 (PyTorch's name)
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
    # one Tensor per op, so this is on the hot path.
    # _version counts the in-place changes of the data; _change_tickets and
    # _base are set only when needed (see bump_version and _ViewTensor).
    __slots__ = ("data", "requires_grad", "grad", "_ctx", "name", "_retains_grad", "_version", "_change_tickets",
                 "_base", "__weakref__")

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None) -> None:
        self.data = _as_array(data, dtype)
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

    # --- basic properties -------------------------------------------------

    # Each reads its answer off the numpy array; the except clauses cost
    # nothing unless something other than an array was assigned to .data.

    @property
    def shape(self) -> tuple[int, ...]:
        try:
            return self.data.shape
        except AttributeError:
            raise self._not_an_array("shape") from None

    @property
    def ndim(self) -> int:
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

    def numel(self) -> int:
        """The number of elements (PyTorch's name for numpy's `.size`)."""
        return self.data.size

    def dim(self) -> int:
        """The number of dimensions (PyTorch's name for `.ndim`)."""
        return self.data.ndim

    @property
    def device(self) -> Device:
        """Where the data lives: always the CPU (numpy), `device(type='cpu')`."""
        return CPU

    @property
    def is_leaf(self) -> bool:
        """A leaf was made by the user, not by an op that is being recorded."""
        return self._ctx is None

    @property
    def grad_fn(self) -> Function | None:
        """The Function that made this tensor (None for leaves)."""
        return self._ctx

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, got shape {self.shape}")
        return self.data.item()

    def _one_value(self, what: str) -> float | int | bool:
        if self.data.size != 1:
            raise TypeError(
                f"{what}: only a tensor with one element can be converted to a Python number, got shape "
                f"{self.shape}; reduce it first (e.g. t.mean()) or index one element (t[0])"
            )
        return self.data.item()

    def __float__(self) -> float:
        """float(t) for a tensor of one element (a loss, say): its value, without the graph."""
        return float(self._one_value("float"))

    def __int__(self) -> int:
        """int(t) for a tensor of one element: its value truncated toward zero, as int(2.7) is 2."""
        return int(self._one_value("int"))

    def __format__(self, spec: str) -> str:
        """f"{loss:.3f}": a format spec formats the value of a one-element tensor; no spec gives str(t)."""
        if not spec:
            return str(self)
        return format(self._one_value(f"format with {spec!r}"), spec)

    def tolist(self) -> Any:
        return self.data.tolist()

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
        owner = self._base if isinstance(self, _ViewTensor) else self
        if owner._ctx is None:
            _share_version(out, owner)
        else:
            out.__class__ = _DetachedTensor  # same slots, so the class can change in place
            out._base = weakref.ref(owner)
        return out

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Mark a leaf as needing gradients (in place); returns self."""
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"requires_grad: only floating-point tensors can require gradients, got dtype {self.dtype}"
            )
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad_: cannot turn off gradients of a non-leaf tensor; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> Tensor:
        """Keep `.grad` on this non-leaf tensor after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        self._retains_grad = True
        return self

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

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"bool: the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()"
            )
        return bool(self.data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        # np.array(t) asks for a copy (copy=True): writing into it must not change t.
        return self.data.copy() if copy else self.data

    # --- backward -----------------------------------------------------------

    def backward(self, gradient: Any = None, retain_graph: bool = False, create_graph: bool = False) -> None:
        """Compute the gradient of this tensor with respect to every leaf.

        Gradients are *added* to the `.grad` of each leaf that requires grad,
        so call `zero_grad()` (or set `.grad = None`) between steps.

        gradient: the upstream gradient dL/dself; needed unless self is a scalar.
        retain_graph: keep the saved values so backward can run through this
            graph again (create_graph implies it).
        create_graph: record the backward pass itself, so the gradients can be
            differentiated again (second derivatives, Hessian-vector products).
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no graph; "
                "set requires_grad=True on the inputs you want gradients for"
            )
        seed = _seed_gradient(self, gradient, "backward")
        run_backward([self], [seed], retain_graph or create_graph, create_graph, inputs=None)


# ---------------------------------------------------------------------------
# In-place changes: version counters and change tickets
# ---------------------------------------------------------------------------
#
# A node's VJP may read its input tensors (Mul, MatMul) or its output (Exp).
# If one of them is changed in place between forward and backward, the VJP
# would silently compute with the new values. So every in-place change goes
# through bump_version, which
#   - adds 1 to the tensor's `_version` (PyTorch's counter), and
#   - takes a ticket: the global count of in-place changes so far, kept on
#     the tensor (the last few tickets).
# Each node notes the count when it is recorded (`recorded_at`). Backward
# compares it with the count now: if no in-place change happened since, the
# node is fine, at the cost of one comparison. Only otherwise does it look at
# the tickets of the tensors the VJP reads (_check_versions).


class _InPlaceChanges:
    count = 0  # in-place changes so far, in the whole program


# How many of its latest change tickets a tensor keeps (enough to tell how
# often it changed since a node was recorded, up to this many).
_TICKETS_KEPT = 64


def bump_version(tensor: Tensor) -> None:
    """Record that `tensor`'s array was changed in place (call it after the change)."""
    owner = tensor._base if isinstance(tensor, _ViewTensor) else tensor
    if isinstance(owner, _DetachedTensor):
        source = owner._base()  # the computed tensor it was detached from, if still alive
        if source is not None:
            _count_change(source)
    _count_change(owner)


def _count_change(owner: Tensor) -> None:
    owner._version += 1
    _InPlaceChanges.count += 1
    tickets = getattr(owner, "_change_tickets", None)
    if tickets is None:
        tickets = owner._change_tickets = []
    tickets.append(_InPlaceChanges.count)
    del tickets[:-_TICKETS_KEPT]


class _ViewTensor(Tensor):
    """A tensor whose array is a numpy view of another tensor's array (made by
    reshape, transpose, basic indexing, broadcast_to, or detach of a leaf).

    Writing into one changes the other, so they share one version counter:
    the base's. `_version` of a view is its base's, and bump_version on a view
    bumps the base. `_base` is the tensor that owns the memory (never a view).
    """

    __slots__ = ()

    @property
    def _version(self) -> int:
        return self._base._version

    @_version.setter
    def _version(self, value: int) -> None:
        pass  # a view has no counter of its own (copy.deepcopy and pickle set it)


class _DetachedTensor(Tensor):
    """The result of `detach()` on a computed tensor: a leaf sharing its array.

    Its `_base` slot holds a weak reference to that tensor (the owner of the
    memory), and bump_version counts every in-place change of it there too,
    so backward through the graph sees the change (PyTorch shares one
    version counter between them). Being weak, the reference does not keep
    the graph alive: once the tensor is gone, nothing can read its values.
    """

    __slots__ = ()

    def __reduce__(self) -> tuple:
        # Pickled and copied as a plain tensor: a weak reference cannot be
        # pickled, and a copy shares no memory with the tensor it came from.
        return (Tensor, (self.data, False, None, self.name))


def _share_version(view: Tensor, base: Tensor) -> Tensor:
    """Mark `view` (a result of a view op on `base`) as sharing base's version counter."""
    if view is not base and type(view) is Tensor and np.may_share_memory(view.data, base.data):
        view.__class__ = _ViewTensor  # same slots, so the class can change in place
        view._base = base._base if isinstance(base, _ViewTensor) else base
    return view


def _describe(tensor: Any) -> str:
    """How error messages name a tensor: its name if it has one, else shape and dtype."""
    shape_and_dtype = f"shape {tuple(tensor.shape)}, dtype {tensor.dtype}"
    described = f"{tensor.name!r} ({shape_and_dtype})" if tensor.name else f"a tensor of {shape_and_dtype}"
    if isinstance(tensor, _ViewTensor):
        described += f", a view of {_describe(tensor._base)}"
    return described


# ---------------------------------------------------------------------------
# Function: one node of the graph
# ---------------------------------------------------------------------------


class Function:
    """Base class of every primitive op.

    A subclass defines
      forward(self, *arrays, **settings) -> ndarray   on numpy arrays, and
      backward(self, grad) -> tuple of Tensors        the VJP, on Tensors:
          one gradient (or None) per input, each with that input's shape.
    Inside backward, `self.parents` are the input tensors and
    `self.needs_grad[i]` says whether input i needs a gradient; a class that
    sets `uses_output = True` also gets `self.output`, the output tensor (for
    VJPs such as exp's, written in terms of the result). forward may keep arrays
    on `self` for backward; backward drops them when it releases the node.

    `vjp_rule` is the VJP in words, for drawings and pages: a `VjpRule`
    (tinygrad_cnn/vjp_rule.py) with one entry per input, in order, whose
    placeholders the page fills with the real tensors' names and settings.
    As a string it reads "dL/da = ..., dL/db = ..." (Mul: "dL/da = g·b,
    dL/db = g·a"), g being the upstream gradient. A Function defined outside
    the library may give a plain string: it is shown whole for every input.

    A class whose backward needs only the inputs' shapes sets
    `reads_inputs = False` (see below).
    """

    # What the engine records lives in __slots__: one object fewer per node
    # than an instance __dict__, which also means less work for Python's cycle
    # collector. What forward keeps on self goes into a __dict__, made only for
    # the ops that keep something.
    __slots__ = ("parents", "needs_grad", "settings", "module", "released", "_output_ref", "recorded_at", "__dict__")
    uses_output = False
    vjp_rule: str = ""  # no rule declared (a library op declares a VjpRule, a str)
    # Whether backward reads the values of the inputs (Mul, MatMul, Log: yes;
    # Add, Reshape, Sum: only their shapes). Backward refuses to run if such
    # an input (or, with uses_output, the output) was changed in place after
    # the node was recorded. A Function defined outside the library keeps
    # the safe default, True.
    reads_inputs = True
    # A forward that wrote into its input arrays would change tensors that
    # the graph (and this node's own backward) still reads: the gradient
    # would be silently wrong. So forward gets read-only arrays, and a write
    # raises (PyTorch refuses it too). The library's own ops, whose forwards
    # never write into their inputs, turn the guard off (`trust_forward`):
    # it costs a few flag changes per op.
    guards_inputs = True

    def forward(self, *arrays: np.ndarray, **settings: Any) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad: Tensor) -> tuple[Tensor | None, ...]:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def output(self) -> Tensor:
        if not self.uses_output:
            raise AttributeError(f"{self.name}: set uses_output = True on the class to use self.output")
        out = self._output_ref() if self._output_ref is not None else None
        if out is None:  # cannot happen while backward runs: the graph holds it
            raise RuntimeError(f"{self.name}: the output tensor is no longer referenced by the graph")
        return out

    @classmethod
    def apply(cls, *inputs: Tensor, **settings: Any) -> Tensor:
        """Run the op forward, and record it if any input requires grad."""
        fn = cls()
        try:
            if cls.guards_inputs:
                data = _forward_with_read_only_inputs(fn, inputs, settings)
            else:
                data = fn.forward(*map(_data_of, inputs), **settings)
        except Exception as error:  # costs nothing unless forward fails
            _check_input_arrays(fn, inputs, error)
            raise
        if type(data) is not np.ndarray:  # numpy returns scalars for 0-d results
            data = np.asarray(data)
        # Tensor._make written out: these lines run for every op.
        out = _new_object(Tensor)
        out.data = data
        out.requires_grad = False
        out.grad = None
        out._ctx = None
        out.name = None
        out._retains_grad = False
        out._version = 0
        mode = _GradMode  # this thread's modes, looked up once
        if mode.enabled:
            if len(inputs) == 2:  # the common case, with no new tuple to make
                needs_grad = _PAIR_FLAGS[inputs[0].requires_grad][inputs[1].requires_grad]
            else:
                needs_grad = tuple(map(_requires_grad_of, inputs))
            if True in needs_grad:
                fn.parents = inputs
                fn.needs_grad = needs_grad
                fn.settings = settings
                fn.module = mode.module_path
                fn.released = False
                fn.recorded_at = _InPlaceChanges.count
                if _AnomalyMode.enabled:
                    fn.forward_trace = forward_trace()  # where in the user's code this op ran
                if cls.uses_output:
                    # A weak reference: a strong one would make a cycle out -> fn -> out.
                    fn._output_ref = weakref.ref(out)
                out._ctx = fn
                out.requires_grad = True
        return out

    def release(self) -> None:
        """Free what was saved for backward, keeping names and shapes for drawing.

        Inputs made by other ops are replaced by stubs that hold no values,
        so their arrays can be freed; leaves (parameters, data) and tensors
        that asked to keep their gradient (`retain_grad`) are kept.
        """
        parents = []
        for parent in self.parents:
            if parent._ctx is not None and not parent._retains_grad:
                stub = _new_object(_ReleasedTensor)
                data = parent.data
                stub.name, stub.shape, stub.dtype, stub._ctx = parent.name, data.shape, data.dtype, parent._ctx
                parent = stub
            parents.append(parent)
        self.parents = tuple(parents)
        self.released = True
        self._output_ref = None
        # Drop everything forward saved on self. (`del`, not clear(): most ops
        # save nothing and have no __dict__ yet, and clear() would make one.)
        del self.__dict__

    def __repr__(self) -> str:
        return f"<{self.name}>"


def trust_forward(*functions: type[Function]) -> None:
    """Mark library ops whose forward never writes into its input arrays: apply
    calls them without the read-only guard (see Function.guards_inputs)."""
    for function in functions:
        function.guards_inputs = False


def _check_input_arrays(fn: Function, inputs: Sequence[Tensor], error: Exception) -> None:
    """After fn's forward or backward failed: a TypeError naming the input
    whose .data is not a numpy array (a list assigned to `t.data`), instead of
    the error numpy or Python raised deep inside the op."""
    for position, tensor in enumerate(inputs):
        data = tensor.data
        if not isinstance(data, np.ndarray):
            raise TypeError(
                f"{fn.name}: input {position} holds a {type(data).__name__} in .data, not a numpy array; "
                "assign arrays to .data (e.g. t.data = np.asarray(values, dtype=np.float32))"
            ) from error


def _forward_with_read_only_inputs(fn: Function, inputs: Sequence[Tensor], settings: dict[str, Any]) -> np.ndarray:
    """fn.forward on the inputs' arrays, made read-only while it runs."""
    arrays = [tensor.data for tensor in inputs]
    made_read_only = []
    for array in arrays:
        if isinstance(array, np.ndarray) and array.flags.writeable:
            array.flags.writeable = False
            made_read_only.append(array)
    try:
        return fn.forward(*arrays, **settings)
    except ValueError as error:
        if "read-only" not in str(error):
            raise
        shapes = ", ".join(str(tuple(np.shape(a))) for a in arrays)
        raise RuntimeError(
            f"{fn.name}.forward wrote into one of its input arrays (shapes {shapes}) in place: the graph "
            "still reads those tensors, so backward would use the changed values and give a wrong gradient. "
            "Compute into a new array instead (e.g. out = x + 1, or x = x.copy() first)"
        ) from error
    finally:
        for array in made_read_only:
            array.flags.writeable = True


# For the hot path of apply: object creation without a call to __init__, and
# attribute readers that need no Python frame per input.
_new_object = object.__new__
_data_of = operator.attrgetter("data")
_requires_grad_of = operator.attrgetter("requires_grad")
# needs_grad of a two-input op, _PAIR_FLAGS[a.requires_grad][b.requires_grad].
_PAIR_FLAGS = (((False, False), (False, True)), ((True, False), (True, True)))


class _ReleasedTensor:
    """What is left of an intermediate tensor once the graph is released:
    its name, shape, dtype and the Function that made it, but not its values.

    Function.release makes these, one per intermediate input of every node,
    and sets the four fields itself (no __init__ call, on this hot path).
    """

    __slots__ = ("name", "shape", "dtype", "_ctx", "__weakref__")
    requires_grad = True  # only tensors that required grad are recorded as op outputs
    grad = None


# ---------------------------------------------------------------------------
# The backward pass
# ---------------------------------------------------------------------------


def _seed_gradient(output: Tensor, gradient: Any, where: str) -> Tensor:
    if gradient is None:
        if output.data.size != 1:
            raise RuntimeError(
                f"{where}: gradient must be given for a non-scalar output of shape {output.shape} "
                "(e.g. out.backward(np.ones_like(out.data)), or reduce it with .sum() first)"
            )
        return Tensor._make(np.ones_like(output.data))
    if not isinstance(gradient, (Tensor, np.ndarray, np.number, int, float, list, tuple)) or isinstance(gradient, bool):
        raise TypeError(
            f"{where}: gradient must be a Tensor, an array or a number, got {type(gradient).__name__} {gradient!r}"
        )
    if isinstance(gradient, Tensor):
        grad = gradient
    else:
        grad = Tensor(_as_array(_real_gradient_array(gradient, output, where), output.dtype))
    if grad.shape != output.shape:
        raise ValueError(f"{where}: gradient has shape {grad.shape} but the output has shape {output.shape}")
    return grad


def _real_gradient_array(gradient: Any, output: Tensor, where: str) -> np.ndarray:
    """The user's upstream gradient as an array of real numbers, or a clear error.

    A complex gradient is refused, as in PyTorch for a real output: converting
    it would drop its imaginary part (numpy only warns). Strings and other
    non-numbers are refused before numpy's "could not convert" message."""
    try:
        array = np.asarray(gradient)
    except ValueError as error:  # a ragged nested list
        raise ValueError(f"{where}: gradient for the output of shape {output.shape} is not an array: {error}") from None
    if array.dtype.kind == "c":
        raise TypeError(
            f"{where}: gradient is complex (dtype {array.dtype}), but the output of shape {output.shape} is real "
            f"({output.dtype}); its imaginary part would be lost. Pass a real gradient"
        )
    if array.dtype.kind not in "fiub":
        raise TypeError(
            f"{where}: gradient must hold numbers, got an array of dtype {array.dtype} "
            f"for the output of shape {output.shape}"
        )
    return array


def topological_order(roots: Sequence[Tensor]) -> list[Tensor]:
    """Every tensor the roots depend on (that requires grad), inputs before outputs.

    An iterative depth-first search: a recursive one would hit Python's
    recursion limit (about 1,000 frames) on a long chain of ops. Each node is
    visited once, so the time is linear in the size of the graph.
    """
    order: list[Tensor] = []
    visited: set[Tensor] = set()
    for root in roots:
        if root in visited or not root.requires_grad:
            continue
        visited.add(root)
        # Each stack entry: (tensor, iterator over its parents not yet expanded).
        stack = [(root, iter(root._ctx.parents if root._ctx else ()))]
        while stack:
            node, parents = stack[-1]
            for parent in parents:
                if parent.requires_grad and parent not in visited:
                    visited.add(parent)
                    fn = parent._ctx
                    stack.append((parent, iter(fn.parents if fn is not None else ())))
                    break
            else:
                # All parents are done: the node comes after them.
                stack.pop()
                order.append(node)
    return order


def _fit_to(grad: Tensor, like: np.ndarray) -> Tensor:
    """The gradient of an input, in the input's shape and dtype.

    Undo broadcasting: sum the gradient over the axes that were broadcast.
    And a float32 input used with a float64 one gets a float32 gradient.
    """
    from .ops import sum_to

    if grad.data.shape != like.shape:
        grad = sum_to(grad, like.shape)
    if grad.data.dtype != like.dtype:
        grad = grad.astype(like.dtype)
    return grad


def run_backward(
    roots: Sequence[Tensor],
    root_grads: Sequence[Tensor],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Tensor] | None,
) -> list[Tensor | None] | None:
    """The chain rule over the whole graph.

    With inputs=None, gradients are accumulated into the `.grad` of the
    leaves (Tensor.backward); otherwise the gradients of `inputs` are returned
    and no `.grad` is touched (the `grad` function).
    """
    # The first backward of the process tells glibc to keep freed blocks for
    # the next step (page faults otherwise cost up to a third of a training
    # step; see memory.py for why and how to opt out). Results do not change.
    memory.before_backward()
    order = topological_order(roots)
    # grads[t]: the sum of the gradients reaching tensor t along every path so far.
    grads: dict[Tensor, Tensor] = {}
    for root, g in zip(roots, root_grads):
        grads[root] = grads[root] + g if root in grads else g
    wanted = dict.fromkeys(inputs) if inputs is not None else None
    anomaly = _AnomalyMode.enabled
    changes = _InPlaceChanges.count
    recorder = _GradMode.recorder
    if recorder is not None:
        recorder.start(order, grads)

    # quiet_region: an overflow in a VJP gives inf, silently, as in the forward ops.
    with _SetGradMode(create_graph), _cycle_collector_paused(), quiet_region():
        for node in reversed(order):
            grad = grads.pop(node, None)
            if grad is None:  # no path from the roots carries a gradient here
                continue
            if wanted is not None and node in wanted:
                wanted[node] = grad
            fn = node._ctx
            if inputs is None and (fn is None or node._retains_grad):
                _accumulate(node, grad, create_graph)
            if fn is None:
                if recorder is not None:
                    recorder.visit(node, grad, ())
                continue
            if fn.released:
                raise RuntimeError(
                    "backward: trying to go through the graph a second time, but its saved values "
                    "were freed by the first backward; pass retain_graph=True to the first call"
                )
            if fn.recorded_at != changes:  # something was changed in place since fn was recorded
                _check_versions(fn)
            try:
                parent_grads = fn.backward(grad)
            except Exception as error:
                _check_input_arrays(fn, fn.parents, error)
                if anomaly:
                    add_forward_trace(error, fn)
                raise
            if type(parent_grads) is not tuple or len(parent_grads) != len(fn.parents):
                parent_grads = _check_gradient_count(fn, parent_grads)
            if anomaly:
                check_gradients(fn, parent_grads)
            if recorder is not None:
                recorder.visit(node, grad, parent_grads)
            for parent, parent_grad in zip(fn.parents, parent_grads):
                if parent_grad is None or not parent.requires_grad:
                    continue
                if type(parent_grad) is not Tensor and not isinstance(parent_grad, Tensor):
                    raise _bad_gradient_error(fn, parent, f"a {type(parent_grad).__name__}, not a Tensor")
                grad_data, parent_data = parent_grad.data, parent.data
                # (`is not` first: comparing two dtypes with != is slow, and the
                # dtypes are almost always the very same object.)
                try:
                    misfit = grad_data.shape != parent_data.shape or (
                        grad_data.dtype is not parent_data.dtype and grad_data.dtype != parent_data.dtype
                    )
                except AttributeError as error:  # something other than an array was assigned to .data
                    _check_input_arrays(fn, fn.parents, error)
                    raise
                if misfit:
                    parent_grad = _fit_gradient(fn, parent, parent_grad)
                # A tensor used more than once gets the sum over its uses.
                if parent not in grads:
                    grads[parent] = parent_grad
                elif create_graph:
                    grads[parent] = grads[parent] + parent_grad
                else:
                    grads[parent] = Tensor._make(grads[parent].data + parent_grad.data)  # no graph needed
                if recorder is not None:
                    recorder.add(parent, parent_grad, grads[parent])
            if not retain_graph:
                fn.release()
    if wanted is None:
        return None
    return [wanted[t] for t in inputs]


def _check_versions(fn: Function) -> None:
    """Raise if a tensor that fn's VJP reads was changed in place after fn was recorded."""
    saved = [(f"input {i}", parent) for i, parent in enumerate(fn.parents)] if fn.reads_inputs else []
    output = fn._output_ref() if fn.uses_output and fn._output_ref is not None else None
    if output is not None:
        saved.append(("its output", output))
    changed = []
    for role, tensor in saved:
        owner = tensor._base if isinstance(tensor, _ViewTensor) else tensor
        tickets = getattr(owner, "_change_tickets", None)
        if not tickets or tickets[-1] <= fn.recorded_at:
            continue
        times = sum(1 for ticket in tickets if ticket > fn.recorded_at)
        version = owner._version
        if times < len(tickets) or len(tickets) < _TICKETS_KEPT:
            before = f"it was at version {version - times} when {fn.name} was recorded"
        else:
            before = f"it changed at least {times} times since {fn.name} was recorded"
        changed.append(f"{role}, {_describe(tensor)}, is at version {version}; {before}")
    if not changed:
        return
    message = (
        f"backward: a tensor that the gradient of {fn.name} needs was changed by an in-place operation "
        f"after the forward pass used it: " + "; ".join(changed) + ". "
        "Its gradient would be computed from the new values, which is wrong. Compute every gradient "
        "(call backward) before changing any tensor in place: an optimizer step, an nn.init function, "
        "load_state_dict, or an in-place method such as add_ or zero_. Or run the forward pass again "
        "after the change. (tinygrad_cnn.detect_anomaly() shows where the op was recorded.)"
    )
    raise RuntimeError(message + format_forward_trace(fn))


def _check_gradient_count(fn: Function, parent_grads: Any) -> tuple[Tensor | None, ...]:
    """backward must return one gradient (or None) per input, as a tuple (or list).

    A lone Tensor (or None) is accepted from a Function with one input."""
    if isinstance(parent_grads, list):
        parent_grads = tuple(parent_grads)
    elif (parent_grads is None or isinstance(parent_grads, Tensor)) and len(fn.parents) == 1:
        parent_grads = (parent_grads,)
    if type(parent_grads) is not tuple:
        raise RuntimeError(
            f"backward: {fn.name}.backward returned a {type(parent_grads).__name__}; it must return a tuple "
            f"with one gradient (or None) per input ({len(fn.parents)} inputs)" + format_forward_trace(fn)
        )
    if len(parent_grads) != len(fn.parents):
        shapes = ", ".join(str(tuple(p.shape)) for p in fn.parents)
        raise RuntimeError(
            f"backward: {fn.name}.backward returned {len(parent_grads)} gradients, but {fn.name} has "
            f"{len(fn.parents)} inputs (shapes {shapes}); return one gradient (or None) per input"
            + format_forward_trace(fn)
        )
    return parent_grads


def _bad_gradient_error(fn: Function, parent: Tensor, problem: str) -> RuntimeError:
    index = next(i for i, p in enumerate(fn.parents) if p is parent)
    return RuntimeError(
        f"backward: {fn.name}.backward returned an invalid gradient for input {index} "
        f"(shape {tuple(parent.shape)}): it is {problem}" + format_forward_trace(fn)
    )


def _fit_gradient(fn: Function, parent: Tensor, grad: Tensor) -> Tensor:
    """_fit_to, after checking that the gradient's shape can be summed down to the input's."""
    grad_shape, shape = grad.data.shape, tuple(parent.shape)
    reducible = len(grad_shape) >= len(shape) and all(
        n == m or n == 1 for n, m in zip(shape[::-1], grad_shape[::-1])
    )
    if not reducible:
        raise _bad_gradient_error(
            fn, parent, f"of shape {grad_shape}, which is neither the input's shape {shape} nor broadcast from it"
        )
    if grad.data.dtype.kind != "f":
        raise _bad_gradient_error(fn, parent, f"of dtype {grad.data.dtype}; gradients must be floating point")
    return _fit_to(grad, parent.data)


@contextlib.contextmanager
def _cycle_collector_paused():
    """Pause Python's cycle collector for the duration of a backward pass.

    The backward pass creates no reference cycles (a node refers to its output
    tensor only through a weak reference, if at all), so reference counting frees all it
    allocates and the collector has nothing to find. But the collector runs
    every few hundred allocations and then walks the objects of the whole
    graph: on a 100,000-op chain that doubles the time of backward.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _accumulate(leaf: Tensor, grad: Tensor, create_graph: bool) -> None:
    data = leaf.data
    if type(data) is not np.ndarray or data.dtype.kind != "f":
        raise _not_float_data_error(leaf)
    if create_graph and (grad._ctx is not None or leaf.grad is not None):
        # Keep the graph of the gradient (and of an earlier .grad), so it can
        # be differentiated again. A gradient without a graph is copied below,
        # as without create_graph.
        leaf.grad = grad if leaf.grad is None else leaf.grad + grad
    elif leaf.grad is None:
        # The same gradient array can reach two leaves (a + b hands g to both):
        # each leaf gets its own copy, so changing one .grad in place cannot
        # change another.
        leaf.grad = Tensor._make(grad.data.copy())
    else:
        # Not in place, so a .grad kept from an earlier step stays as it was.
        leaf.grad = Tensor._make(leaf.grad.data + grad.data)


def _not_float_data_error(leaf: Tensor) -> TypeError:
    """A tensor that requires grad must hold a float array; `.data` is a plain
    attribute (as in PyTorch), so an assignment is only seen when it is used."""
    held = f"{leaf.data.dtype} data" if isinstance(leaf.data, np.ndarray) else f"a {type(leaf.data).__name__}"
    return TypeError(
        f"backward: {_describe_leaf(leaf)} requires grad but holds {held} in .data; a tensor that requires grad "
        "must hold a float array (was something else assigned to .data?). Assign a float array, e.g. "
        "p.data = values.astype(np.float32)"
    )


def _describe_leaf(leaf: Tensor) -> str:
    return f"the tensor {leaf.name!r}" if leaf.name else "a tensor"


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of `outputs` with respect to `inputs`, returned, not stored.

    `.grad` attributes are left alone. Every output must require grad (a
    gradient computed without create_graph=True does not: it has no graph).
    An input that the outputs do not depend on is an error, as in PyTorch,
    unless allow_unused=True: then its gradient is None. With
    create_graph=True the returned gradients carry a graph of their own and
    can be differentiated again.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs[{i}] is a {type(t).__name__}, not a Tensor")
        if not t.requires_grad:
            raise RuntimeError(f"grad: inputs[{i}] (shape {t.shape}) does not require grad")
    roots, seeds = [], []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(out, Tensor):
            raise TypeError(f"grad: outputs[{i}] is a {type(out).__name__}, not a Tensor")
        if not out.requires_grad:
            raise RuntimeError(
                f"grad: element {i} of outputs does not require grad and has no grad_fn, so nothing can be "
                "differentiated; if it is (made from) a gradient, compute that gradient with create_graph=True"
            )
        roots.append(out)
        seeds.append(_seed_gradient(out, g, "grad"))
    if retain_graph is None:
        retain_graph = create_graph
    results = run_backward(roots, seeds, retain_graph, create_graph, inputs) if roots else [None] * len(inputs)
    if not allow_unused:
        for i, result in enumerate(results):
            if result is None:
                raise RuntimeError(
                    f"grad: inputs[{i}] (shape {inputs[i].shape}) was not used to compute the outputs; "
                    "pass allow_unused=True to get None as its gradient"
                )
    return tuple(results)

