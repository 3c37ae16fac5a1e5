"""Function: one node of the graph, and `apply`, which runs an op and records it.

A primitive op is a subclass of Function with two methods:

    forward(self, *arrays, **settings) -> ndarray    on numpy arrays, and
    backward(self, g) -> tuple of Tensors            the VJP, on Tensors:
        one gradient (or None) per input, each with that input's shape.

`Op.apply(*tensors, **settings)` runs forward on the tensors' arrays and, when
an input requires grad (and recording is on), records the node on the result:
`result.grad_fn` is the Function, `grad_fn.parents` the input tensors.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from .anomaly import anomaly_mode, forward_trace
from .grad_mode import recording
from .tensor import InPlaceChanges, Tensor


class Function:
    """Base class of every primitive op.

    Inside backward, `self.parents` are the input tensors and
    `self.needs_grad[i]` says whether input i needs a gradient; a class that
    sets `uses_output = True` also gets `self.output`, the output tensor (for
    VJPs such as exp's, written in terms of the result). `self.settings` holds
    the keyword arguments forward was called with (an axis, a shape, a stride).
    forward may keep arrays on `self` for backward; they are dropped when the
    node is released.

    `vjp_rule` is the VJP in words, for drawings and pages: a `VjpRule`
    (tinygrad_cnn/vjp_rule.py) with one entry per input, in order, whose
    placeholders the page fills with the real tensors' names and settings.
    As a string it reads "dL/da = ..., dL/db = ..." (Mul: "dL/da = g·b,
    dL/db = g·a"), g being the upstream gradient. A Function defined outside
    the library may give a plain string: it is shown whole for every input.
    """

    # What the engine records lives in __slots__: one object fewer per node
    # than an instance __dict__, which also means less work for Python's cycle
    # collector. What forward keeps on self goes into a __dict__, made only for
    # the ops that keep something.
    __slots__ = ("parents", "needs_grad", "settings", "module", "released", "_output_ref", "recorded_at",
                 "saved_versions", "__dict__")
    # What apply records (set only on the nodes it records):
    parents: tuple[Tensor, ...]  # the inputs (after release, stubs of the intermediate ones)
    needs_grad: tuple[bool, ...]  # per input: whether it requires grad
    settings: dict[str, Any]  # forward's keyword arguments
    module: str | None  # the path of the nn.Module whose forward ran the op
    released: bool
    _output_ref: weakref.ref[Tensor] | None
    recorded_at: int  # InPlaceChanges.count when the node was recorded
    saved_versions: tuple[int, ...]  # the inputs' versions then (when reads_inputs)
    forward_trace: list[Any]  # in anomaly mode: where in the user's code the op ran
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

    def forward(self, *arrays: Any, **settings: Any) -> Any:
        raise NotImplementedError

    def backward(self, g: Any) -> Any:
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
                data = forward_with_read_only_inputs(fn, inputs, settings)
            # The library's ops, called without star-unpacking where the
            # inputs are one or two and there are no settings: `f(*map(...))`
            # costs about 0.3 us, as much as numpy's own add of small arrays.
            elif settings:
                data = fn.forward(*[tensor.data for tensor in inputs], **settings)
            elif len(inputs) == 2:
                data = fn.forward(inputs[0].data, inputs[1].data)
            elif len(inputs) == 1:
                data = fn.forward(inputs[0].data)
            else:
                data = fn.forward(*[tensor.data for tensor in inputs])
        except Exception as error:  # costs nothing unless forward fails
            check_input_arrays(fn, inputs, error)
            raise
        if type(data) is not np.ndarray:  # numpy returns scalars for 0-d results
            data = np.asarray(data)
        # Tensor._make written out: these lines run for every op, and the call
        # they spare costs about 85 ns, of the 1.2 us a small recorded op takes.
        out = _new_object(Tensor)
        out.data = data
        out.requires_grad = False
        out.grad = None
        out._ctx = None
        out.name = None
        out._retains_grad = False
        out._version = 0
        mode = recording  # this thread's switches, looked up once
        if mode.enabled:
            if len(inputs) == 2:  # the common case, with no new tuple to make
                first, second = inputs
                needs_grad = _PAIR_FLAGS[first.requires_grad][second.requires_grad]
            else:
                needs_grad = tuple(map(_requires_grad_of, inputs))
            if True in needs_grad:
                fn.parents = inputs
                fn.needs_grad = needs_grad
                fn.settings = settings
                fn.module = mode.module_path
                fn.released = False
                fn.recorded_at = InPlaceChanges.count
                if cls.reads_inputs:
                    # The versions of the inputs, for backward to see whether
                    # one was changed in place since (tensor.py). Two inputs
                    # never changed share one tuple: no new object to make.
                    if len(inputs) != 2:
                        fn.saved_versions = tuple(map(_version_of, inputs))
                    elif first._version or second._version:
                        fn.saved_versions = (first._version, second._version)
                    else:
                        fn.saved_versions = _UNCHANGED_PAIR
                if anomaly_mode.enabled:
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
        parents: list[Any] = []
        for parent in self.parents:
            if parent._ctx is not None and not parent._retains_grad:
                stub = _new_object(ReleasedTensor)
                data = parent.data
                stub.name, stub.shape, stub.dtype, stub._ctx = parent.name, data.shape, data.dtype, parent._ctx
                parents.append(stub)
            else:
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


def check_input_arrays(fn: Function, inputs: Sequence[Tensor], error: Exception) -> None:
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


def forward_with_read_only_inputs(fn: Function, inputs: Sequence[Tensor], settings: dict[str, Any]) -> Any:
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
_requires_grad_of = operator.attrgetter("requires_grad")
_version_of = operator.attrgetter("_version")
# needs_grad of a two-input op, _PAIR_FLAGS[a.requires_grad][b.requires_grad]:
# about 60 ns, where tuple(map(...)) takes 240 and makes a new tuple per op.
_PAIR_FLAGS = (((False, False), (False, True)), ((True, False), (True, True)))
_UNCHANGED_PAIR = (0, 0)


class ReleasedTensor:
    """What is left of an intermediate tensor once the graph is released:
    its name, shape, dtype and the Function that made it, but not its values.

    Function.release makes these, one per intermediate input of every node,
    and sets the four fields itself (no __init__ call, on this hot path).
    """

    __slots__ = ("name", "shape", "dtype", "_ctx", "__weakref__")
    name: str | None
    shape: tuple[int, ...]
    dtype: np.dtype
    _ctx: Function | None
    requires_grad = True  # only tensors that required grad are recorded as op outputs
    grad = None
