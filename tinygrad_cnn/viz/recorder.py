"""A recorder of the real backward pass: what the engine did, node by node.

    tape = record_backward(loss)     # runs loss.backward(), and records it
    for visit in tape.visits:        # in the order the engine visited the nodes
        print(visit.node.name, visit.grad, [c.after for c in visit.contributions])

The engine calls the recorder from inside its own backward loop (see
`backward.run_backward`, as an observer), so the tape holds the very arrays the engine computed:
the gradient that arrived at each node, what the node's VJP returned for each
input, and each input's accumulated gradient before and after the addition.
Nothing is computed again here. While no recorder is switched on, the engine
only loops over an empty tuple of observers once per node and wire.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..backward import active_observers, observing
from ..tensor import Tensor

__all__ = ["Contribution", "Tape", "TapeNode", "Visit", "record_backward", "recording"]


@dataclass
class TapeNode:
    """One tensor of the graph that backward went through.

    tensor: the tensor itself (the tape keeps it, so its values stay readable
        after backward has freed the graph).
    value: its data as the forward pass left it.
    function: the Function that made it (None for a leaf).
    inputs: for a result, the op's inputs in order, each a TapeNode for a
        tensor that requires grad, or the input's array for a constant.
    """

    index: int
    tensor: Tensor
    value: np.ndarray
    function: Any = None
    inputs: list[Any] = field(default_factory=list)


@dataclass
class Contribution:
    """What one input of a node received at one visit.

    returned: what the VJP returned for this input (before any broadcast was undone).
    added: what was added to the input's gradient (in the input's shape and dtype).
    before, after: the input's accumulated gradient before and after the
        addition (before is None for the first contribution).
    k, n: this is contribution k of n that the input receives in the whole pass.
    """

    position: int
    target: TapeNode
    returned: np.ndarray
    added: np.ndarray
    before: np.ndarray | None
    after: np.ndarray
    k: int = 0
    n: int = 0


@dataclass
class Visit:
    """One node visited by backward: the gradient that arrived there (the sum
    of everything its consumers sent it) and what its VJP sent on."""

    node: TapeNode
    grad: np.ndarray
    returned: tuple[np.ndarray | None, ...]
    contributions: list[Contribution] = field(default_factory=list)


@dataclass
class Tape:
    """The record of one backward pass.

    visits: in the order the engine visited the nodes (the root first).
    nodes: every recorded tensor, keyed by id(tensor).
    order: every node in the engine's topological order (inputs before the
        results made from them: an order the forward pass could have run in).
    root: the node backward started from; seed: the gradient it started with.
    """

    visits: list[Visit] = field(default_factory=list)
    order: list[TapeNode] = field(default_factory=list)
    nodes: dict[int, TapeNode] = field(default_factory=dict)
    root: TapeNode | None = None
    seed: np.ndarray | None = None

    def node_of(self, tensor: Tensor) -> TapeNode:
        """The tape's node of a tensor of the graph."""
        return self.nodes[id(tensor)]

    def final_grads(self) -> dict[int, np.ndarray]:
        """id(tensor) -> the gradient the pass computed for it (what arrived at its visit)."""
        return {id(visit.node.tensor): visit.grad for visit in self.visits}


class _Recorder:
    """What the engine calls while recording: start, visit, add."""

    def __init__(self) -> None:
        self.tape = Tape()
        self.current: Visit | None = None
        self.last_after: dict[int, np.ndarray] = {}  # id(tensor) -> its gradient so far

    def _node(self, tensor: Tensor) -> TapeNode:
        node = self.tape.nodes.get(id(tensor))
        if node is None:
            node = TapeNode(len(self.tape.nodes), tensor, tensor.data, tensor._ctx)
            self.tape.nodes[id(tensor)] = node
        return node

    def start(self, order: list[Tensor], grads: dict[Tensor, Tensor]) -> None:
        if self.tape.root is not None:
            raise RuntimeError("record_backward: the recorded code ran backward more than once")
        # The graph is still whole here: note every node and its inputs.
        self.tape.order = [self._node(tensor) for tensor in order]
        for tensor in order:
            fn = tensor._ctx
            if fn is not None:
                node = self.tape.nodes[id(tensor)]
                node.inputs = [self._node(p) if p.requires_grad else p.data for p in fn.parents]
        (root, seed), *_ = grads.items()
        self.tape.root = self._node(root)
        self.tape.seed = seed.data
        self.last_after[id(root)] = seed.data

    def visit(self, tensor: Tensor, grad: Tensor, returned: tuple[Tensor | None, ...]) -> None:
        arrays = tuple(None if g is None else g.data for g in returned)
        self.current = Visit(self._node(tensor), grad.data, arrays)
        self.tape.visits.append(self.current)

    def add(self, parent: Tensor, added: Tensor, after: Tensor) -> None:
        visit = self.current
        assert visit is not None, "the engine visits a node before it adds what the node sent on"
        fn = visit.node.function
        # Which input of the op this is (an op can use one tensor twice: x * x).
        taken = {c.position for c in visit.contributions}
        position = next(i for i, p in enumerate(fn.parents) if p is parent and i not in taken)
        before = self.last_after.get(id(parent))
        returned = visit.returned[position]
        assert returned is not None, "the engine adds only the gradients the VJP returned"
        visit.contributions.append(
            Contribution(position, self._node(parent), returned, added.data, before, after.data)
        )
        self.last_after[id(parent)] = after.data

    def finish(self) -> Tape:
        # Number each input's contributions: "contribution k of n".
        counts: dict[int, int] = {}
        for visit in self.tape.visits:
            for c in visit.contributions:
                counts[c.target.index] = counts.get(c.target.index, 0) + 1
                c.k = counts[c.target.index]
        for visit in self.tape.visits:
            for c in visit.contributions:
                c.n = counts[c.target.index]
        return self.tape


@contextlib.contextmanager
def recording() -> Iterator[_Recorder]:
    """Switch the recorder on for one backward pass run inside the block."""
    # Per thread (observers are): a backward pass run by another thread
    # meanwhile is neither recorded nor disturbs this one.
    if any(isinstance(observer, _Recorder) for observer in active_observers()):
        raise RuntimeError("record_backward: a backward pass is being recorded already")
    with observing(_Recorder()) as recorder:
        yield recorder


def record_backward(root: Tensor, gradient: Any = None, retain_graph: bool = False) -> Tape:
    """Run `root.backward(gradient)` and record what the engine does.

    Like backward, it adds the gradients to the `.grad` of the leaves (the
    same numbers a plain backward gives: the recorder only watches). Returns
    a Tape: every visit in the engine's order, the gradient that arrived, what
    the VJP returned for each input, and each input's gradient before and
    after the addition.
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"record_backward: root must be a Tensor, got {type(root).__name__}")
    with recording() as recorder:
        root.backward(gradient, retain_graph=retain_graph)
    return recorder.finish()
