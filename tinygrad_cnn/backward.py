"""The backward pass: the chain rule over the recorded graph.

`run_backward` visits the graph from the output back to the leaves, in
reverse topological order, so that a tensor is visited only once every
gradient reaching it has been summed. At each tensor it hands the summed
gradient to the node that made it; the node's VJP (`Function.backward`)
returns one gradient per input, and each is added to that input's sum.

The VJPs are written with Tensor ops, not raw numpy. With create_graph=True
the backward pass is itself recorded, so gradients can be differentiated again.

Everything else a backward pass does lives in helpers around that loop: the
checks of what a VJP returned (`vjp`, `fit_to_input`), the leaves' `.grad`
(`store_grad`), the observers (anomaly mode, the step-through page's
recorder) and the set-up of the machine (`backward_context`).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

from . import memory
from .anomaly import GradientCheck, add_forward_trace, anomaly_mode, format_forward_trace
from .float_errors import quiet_region
from .function import Function, check_input_arrays
from .grad_mode import GradModeSwitch
from .ops.shape import sum_to
from .tensor import InPlaceChanges, Tensor, as_array, describe

# ---------------------------------------------------------------------------
# The chain rule
# ---------------------------------------------------------------------------


def run_backward(
    roots: Sequence[Tensor],
    root_grads: Sequence[Tensor],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Tensor] | None = None,
) -> list[Tensor | None] | None:
    """The chain rule over the whole graph.

    With inputs=None, gradients are accumulated into the `.grad` of the
    leaves (Tensor.backward); otherwise the gradients of `inputs` are returned
    and no `.grad` is touched (the `grad` function).
    """
    with backward_context(create_graph):
        order = topological_order(roots)
        grads = seed_gradients(roots, root_grads)  # grads[t]: the sum of the gradients reaching t so far
        wanted: dict[Tensor, Tensor | None] | None = None if inputs is None else dict.fromkeys(inputs)
        observers = start_observers(order, grads)
        for node in reversed(order):
            grad = grads.pop(node, None)
            if grad is None:
                continue  # no path from the roots carries a gradient here
            fn = node._ctx
            if wanted is not None:
                if node in wanted:
                    wanted[node] = grad
            elif fn is None or node._retains_grad:
                store_grad(node, grad, create_graph)
            parent_grads = () if fn is None else vjp(fn, grad)  # the local rule: dL/dinputs from dL/dnode
            if observers:
                notify_visit(observers, node, grad, parent_grads)
            if fn is None:
                continue  # a leaf: the graph ends here
            for parent, parent_grad in zip(fn.parents, parent_grads):
                if parent_grad is None or not parent.requires_grad:
                    continue
                parent_grad = fit_to_input(fn, parent, parent_grad)
                # A tensor used more than once gets the sum over its uses.
                total = grads.get(parent)
                grads[parent] = parent_grad if total is None else add_gradients(total, parent_grad, create_graph)
                if observers:
                    notify_add(observers, parent, parent_grad, grads[parent])
            if not retain_graph:
                fn.release()
    if inputs is None or wanted is None:
        return None
    return [wanted[t] for t in inputs]


def topological_order(roots: Sequence[Tensor]) -> list[Tensor]:
    """Every tensor the roots depend on (that requires grad), inputs before outputs.

    An iterative depth-first search (a recursive one would hit Python's
    recursion limit on deep graphs, e.g. an RNN unrolled over many steps).
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


def add_gradients(total: Tensor, grad: Tensor, create_graph: bool) -> Tensor:
    """The sum so far plus one more gradient (recorded only with create_graph)."""
    if create_graph:
        return total + grad
    return Tensor._make(total.data + grad.data)


# ---------------------------------------------------------------------------
# One node: its VJP, checked
# ---------------------------------------------------------------------------


def vjp(fn: Function, grad: Tensor) -> tuple[Tensor | None, ...]:
    """fn's VJP at `grad`: one gradient (or None) per input of fn.

    Refused when the node was freed by an earlier backward, or when a tensor
    it reads was changed in place since it was recorded; a VJP that returns
    the wrong number of gradients gets an error naming it.
    """
    if fn.released:
        raise RuntimeError(
            "backward: trying to go through the graph a second time, but its saved values "
            "were freed by the first backward; pass retain_graph=True to the first call"
        )
    if fn.recorded_at != InPlaceChanges.count:  # something was changed in place since fn was recorded
        check_versions(fn)
    try:
        parent_grads = fn.backward(grad)
    except Exception as error:
        check_input_arrays(fn, fn.parents, error)
        if anomaly_mode.enabled:
            add_forward_trace(error, fn)  # where in the user's code fn was recorded
        raise
    if type(parent_grads) is not tuple or len(parent_grads) != len(fn.parents):
        parent_grads = check_gradient_count(fn, parent_grads)
    return parent_grads


def check_versions(fn: Function) -> None:
    """Raise if a tensor that fn's VJP reads was changed in place after fn was recorded."""
    saved = []
    if fn.reads_inputs:
        saved = [(f"input {i}", parent, version)
                 for i, (parent, version) in enumerate(zip(fn.parents, fn.saved_versions))]
    output = fn._output_ref() if fn.uses_output and fn._output_ref is not None else None
    if output is not None:
        saved.append(("its output", output, 0))  # an op's output starts at version 0
    changed = [
        f"{role}, {describe(tensor)}, is at version {tensor._version}; it was at version {version} "
        f"when {fn.name} was recorded"
        for role, tensor, version in saved
        if tensor._version != version
    ]
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


def check_gradient_count(fn: Function, parent_grads: Any) -> tuple[Tensor | None, ...]:
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


def fit_to_input(fn: Function, parent: Tensor, grad: Tensor) -> Tensor:
    """The gradient for input `parent` of fn, in the input's shape and dtype.

    A VJP may return the gradient of a broadcast input in the broadcast shape:
    it is summed over the broadcast axes here. Anything that is not a
    gradient of the input (another shape, not a Tensor, integers) is an error
    naming the op.
    """
    try:
        grad_data, parent_data = grad.data, parent.data
        # (`is not` first: comparing two dtypes with != is slow, and the
        # dtypes are almost always the very same object.)
        if grad_data.shape == parent_data.shape and (
            grad_data.dtype is parent_data.dtype or grad_data.dtype == parent_data.dtype
        ):
            return grad
    except AttributeError as error:
        if not isinstance(grad, Tensor):
            raise bad_gradient_error(fn, parent, f"a {type(grad).__name__}, not a Tensor") from None
        check_input_arrays(fn, fn.parents, error)  # something other than an array was assigned to .data
        raise
    if not isinstance(grad, Tensor):
        raise bad_gradient_error(fn, parent, f"a {type(grad).__name__}, not a Tensor")
    grad_shape, shape = grad_data.shape, parent_data.shape
    reducible = len(grad_shape) >= len(shape) and all(
        n == m or n == 1 for n, m in zip(shape[::-1], grad_shape[::-1])
    )
    if not reducible:
        raise bad_gradient_error(
            fn, parent, f"of shape {grad_shape}, which is neither the input's shape {shape} nor broadcast from it"
        )
    if grad_data.dtype.kind != "f":
        raise bad_gradient_error(fn, parent, f"of dtype {grad_data.dtype}; gradients must be floating point")
    return fit_to(grad, parent_data)


def fit_to(grad: Tensor, like: np.ndarray) -> Tensor:
    """A gradient in the shape and dtype of `like`: summed over broadcast axes, cast.

    A float32 input used with a float64 one gets a float32 gradient.
    """
    if grad.data.shape != like.shape:
        grad = sum_to(grad, like.shape)
    if grad.data.dtype != like.dtype:
        grad = grad.astype(like.dtype)
    return grad


def bad_gradient_error(fn: Function, parent: Tensor, problem: str) -> RuntimeError:
    index = next(i for i, p in enumerate(fn.parents) if p is parent)
    return RuntimeError(
        f"backward: {fn.name}.backward returned an invalid gradient for input {index} "
        f"(shape {tuple(parent.shape)}): it is {problem}" + format_forward_trace(fn)
    )


# ---------------------------------------------------------------------------
# The leaves
# ---------------------------------------------------------------------------


def store_grad(leaf: Tensor, grad: Tensor, create_graph: bool) -> None:
    """Add `grad` to `leaf.grad` (a leaf, or a tensor that asked to retain its gradient)."""
    data = leaf.data
    if type(data) is not np.ndarray or data.dtype.kind != "f":
        raise not_float_data_error(leaf)
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


def not_float_data_error(leaf: Tensor) -> TypeError:
    """A tensor that requires grad must hold a float array; `.data` is a plain
    attribute (as in PyTorch), so an assignment is only seen when it is used."""
    held = f"{leaf.data.dtype} data" if isinstance(leaf.data, np.ndarray) else f"a {type(leaf.data).__name__}"
    named = f"the tensor {leaf.name!r}" if leaf.name else "a tensor"
    return TypeError(
        f"backward: {named} requires grad but holds {held} in .data; a tensor that requires grad "
        "must hold a float array (was something else assigned to .data?). Assign a float array, e.g. "
        "p.data = values.astype(np.float32)"
    )


# ---------------------------------------------------------------------------
# Observers: anomaly mode and the step-through page's recorder
# ---------------------------------------------------------------------------


class Observer(Protocol):
    """What a backward pass tells an observer, in its order: the start (the
    graph in topological order and the seeds), each visited node (the gradient
    that arrived, what its VJP returned), and each gradient added to an
    input's sum (what was added, the sum after)."""

    def start(self, order: list[Tensor], grads: dict[Tensor, Tensor]) -> None: ...

    def visit(self, node: Tensor, grad: Tensor, parent_grads: tuple[Tensor | None, ...]) -> None: ...

    def add(self, parent: Tensor, added: Tensor, total: Tensor) -> None: ...


AnObserver = TypeVar("AnObserver", bound=Observer)


class _ThreadObservers(threading.local):
    # Per thread: a backward pass run by another thread is not observed.
    active: tuple[Observer, ...] = ()


_observers = _ThreadObservers()


@contextlib.contextmanager
def observing(observer: AnObserver) -> Iterator[AnObserver]:
    """Every backward pass this thread runs inside the block tells `observer` what it does."""
    previous = _observers.active
    _observers.active = (*previous, observer)
    try:
        yield observer
    finally:
        _observers.active = previous


def active_observers() -> tuple[Observer, ...]:
    """The observers switched on in this thread (`observing`), outermost first."""
    return _observers.active


def notify_visit(observers: tuple[Observer, ...], node: Tensor, grad: Tensor,
                 parent_grads: tuple[Tensor | None, ...]) -> None:
    for observer in observers:
        observer.visit(node, grad, parent_grads)


def notify_add(observers: tuple[Observer, ...], parent: Tensor, added: Tensor, total: Tensor) -> None:
    for observer in observers:
        observer.add(parent, added, total)


def start_observers(order: list[Tensor], grads: dict[Tensor, Tensor]) -> tuple[Observer, ...]:
    """The observers of this backward pass, told that it starts: anomaly mode's
    check of the gradients first (its error comes before anything is recorded)."""
    observers = _observers.active
    if anomaly_mode.enabled:
        observers = (GradientCheck(), *observers)
    for observer in observers:
        observer.start(order, grads)
    return observers


# ---------------------------------------------------------------------------
# The machine around a backward pass
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def backward_context(create_graph: bool) -> Iterator[None]:
    """What every backward pass runs in, none of which changes a number it computes:

    - recording on only with create_graph (the VJPs' ops make the graph of the gradients);
    - numpy's floating-point warnings off: an overflow in a VJP gives inf
      silently, as in the forward ops (float_errors.py);
    - Python's cycle collector paused (cycle_collector_paused);
    - glibc told, at the first backward of the process, to keep freed blocks
      for the next step: page faults otherwise cost up to a third of a
      training step (memory.py says why and how to opt out).
    """
    memory.before_backward()
    with GradModeSwitch(create_graph), cycle_collector_paused(), quiet_region():
        yield


@contextlib.contextmanager
def cycle_collector_paused() -> Iterator[None]:
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


# ---------------------------------------------------------------------------
# The two ways in: Tensor.backward and grad
# ---------------------------------------------------------------------------


def backward(output: Tensor, gradient: Any = None, retain_graph: bool = False, create_graph: bool = False) -> None:
    """`output.backward(gradient)`: the gradients of output, added to the leaves' `.grad`."""
    if not output.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad and has no graph; "
            "set requires_grad=True on the inputs you want gradients for"
        )
    seed = seed_gradient(output, gradient, "backward")
    run_backward([output], [seed], retain_graph or create_graph, create_graph)


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
        seeds.append(seed_gradient(out, g, "grad"))
    if retain_graph is None:
        retain_graph = create_graph
    results: list[Tensor | None] | None = [None] * len(inputs)
    if roots:
        results = run_backward(roots, seeds, retain_graph, create_graph, inputs)
    assert results is not None  # run_backward returns the gradients when it is given inputs
    if not allow_unused:
        for i, result in enumerate(results):
            if result is None:
                raise RuntimeError(
                    f"grad: inputs[{i}] (shape {inputs[i].shape}) was not used to compute the outputs; "
                    "pass allow_unused=True to get None as its gradient"
                )
    return tuple(results)


def seed_gradients(roots: Sequence[Tensor], root_grads: Sequence[Tensor]) -> dict[Tensor, Tensor]:
    """The gradients the pass starts from, one per root (a root given twice gets their sum)."""
    grads: dict[Tensor, Tensor] = {}
    for root, g in zip(roots, root_grads):
        grads[root] = grads[root] + g if root in grads else g
    return grads


def seed_gradient(output: Tensor, gradient: Any, where: str) -> Tensor:
    """The user's upstream gradient for `output` (ones for a one-element output), checked."""
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
        seed = gradient
    else:
        seed = Tensor(as_array(real_gradient_array(gradient, output, where), output.dtype))
    if seed.shape != output.shape:
        raise ValueError(f"{where}: gradient has shape {seed.shape} but the output has shape {output.shape}")
    return seed


def real_gradient_array(gradient: Any, output: Tensor, where: str) -> np.ndarray:
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
