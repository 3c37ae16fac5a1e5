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
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import memory

# ---------------------------------------------------------------------------
# Recording on and off
# ---------------------------------------------------------------------------


class _GradMode:
    enabled = True
    # The dotted path of the nn.Module whose forward is running ("conv1",
    # "features.0"), recorded on each Function so drawings can group ops.
    module_path: str | None = None


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


def no_grad() -> _SetGradMode:
    """Turn recording off: `with no_grad(): ...` or `@no_grad()` on a function.

    Use it for evaluation and for updating parameters: nothing inside builds a
    graph, so it is faster and uses less memory.
    """
    return _SetGradMode(False)


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
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        array = np.asarray(data)
    else:
        array = np.asarray(data)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        elif array.dtype.kind == "O":
            raise TypeError(f"Tensor: cannot make a tensor from {type(data).__name__} data")
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"Tensor: unsupported dtype {array.dtype}; use float, int or bool data")
    return array


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    `Tensor(data, requires_grad=False, dtype=None, name=None)`
    """

    # __slots__ keeps tensors small and attribute access fast: the engine makes
    # one Tensor per op, so this is on the hot path.
    __slots__ = ("data", "requires_grad", "grad", "_ctx", "name", "_retains_grad", "__weakref__")

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None) -> None:
        self.data = _as_array(data, dtype)
        self.grad: Tensor | None = None
        self._ctx: Function | None = None
        self.name = name
        self._retains_grad = False
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
        return t

    # --- basic properties -------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

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

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data, cut off from the graph."""
        return Tensor._make(self.data)

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
        return self.data if dtype is None else self.data.astype(dtype)

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
    """

    # What the engine records lives in __slots__: one object fewer per node
    # than an instance __dict__, which also means less work for Python's cycle
    # collector. What forward keeps on self goes into a __dict__, made only for
    # the ops that keep something.
    __slots__ = ("parents", "needs_grad", "settings", "module", "released", "_output_ref", "__dict__")
    uses_output = False

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
        data = fn.forward(*map(_data_of, inputs), **settings)
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
        if _GradMode.enabled:
            if len(inputs) == 2:  # the common case, with no new tuple to make
                needs_grad = _PAIR_FLAGS[inputs[0].requires_grad][inputs[1].requires_grad]
            else:
                needs_grad = tuple(map(_requires_grad_of, inputs))
            if True in needs_grad:
                fn.parents = inputs
                fn.needs_grad = needs_grad
                fn.settings = settings
                fn.module = _GradMode.module_path
                fn.released = False
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
    grad = gradient if isinstance(gradient, Tensor) else Tensor(_as_array(gradient, output.dtype))
    if grad.shape != output.shape:
        raise ValueError(f"{where}: gradient has shape {grad.shape} but the output has shape {output.shape}")
    return grad


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

    with _SetGradMode(create_graph), _cycle_collector_paused():
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
                continue
            if fn.released:
                raise RuntimeError(
                    "backward: trying to go through the graph a second time, but its saved values "
                    "were freed by the first backward; pass retain_graph=True to the first call"
                )
            parent_grads = fn.backward(grad)
            for parent, parent_grad in zip(fn.parents, parent_grads):
                if parent_grad is None or not parent.requires_grad:
                    continue
                grad_data, parent_data = parent_grad.data, parent.data
                # (`is not` first: comparing two dtypes with != is slow, and the
                # dtypes are almost always the very same object.)
                if grad_data.shape != parent_data.shape or (
                    grad_data.dtype is not parent_data.dtype and grad_data.dtype != parent_data.dtype
                ):
                    parent_grad = _fit_to(parent_grad, parent_data)
                # A tensor used more than once gets the sum over its uses.
                if parent not in grads:
                    grads[parent] = parent_grad
                elif create_graph:
                    grads[parent] = grads[parent] + parent_grad
                else:
                    grads[parent] = Tensor._make(grads[parent].data + parent_grad.data)  # no graph needed
            if not retain_graph:
                fn.release()
    if wanted is None:
        return None
    return [wanted[t] for t in inputs]


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
    if create_graph:
        # Keep the graph of the gradient, so it can be differentiated again.
        leaf.grad = grad if leaf.grad is None else leaf.grad + grad
    elif leaf.grad is None:
        # The same gradient array can reach two leaves (a + b hands g to both):
        # each leaf gets its own copy, so changing one .grad in place cannot
        # change another.
        leaf.grad = Tensor._make(grad.data.copy())
    else:
        # Not in place, so a .grad kept from an earlier step stays as it was.
        leaf.grad = Tensor._make(leaf.grad.data + grad.data)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = True,
) -> tuple[Tensor | None, ...]:
    """Gradients of `outputs` with respect to `inputs`, returned, not stored.

    `.grad` attributes are left alone. An input that the outputs do not
    depend on gets None. With create_graph=True the returned gradients carry
    a graph of their own and can be differentiated again.
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
    for out, g in zip(outputs, grad_outputs):
        if not out.requires_grad:
            continue
        roots.append(out)
        seeds.append(_seed_gradient(out, g, "grad"))
    if retain_graph is None:
        retain_graph = create_graph
    results = run_backward(roots, seeds, retain_graph, create_graph, inputs) if roots else [None] * len(inputs)
    if not allow_unused and any(r is None for r in results):
        raise RuntimeError("grad: an input was not used to compute the outputs")
    return tuple(results)

