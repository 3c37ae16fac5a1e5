"""Drawings of the computation graph: the forward pass and the backward pass.

The textbook picture of backpropagation is a graph: values flow forward along
the wires, gradients flow back. `draw_graph` draws that picture for any tensor
built with this library, from `f = (x + y) * z` up to a CNN's training step:

    from tinygrad_cnn.viz import draw_graph, render_graph, retain_grads

    retain_grads(f)                # keep the gradients of intermediate tensors
    f.backward()
    draw_graph(f)                  # a graphviz.Digraph: shows itself in Jupyter
    render_graph(f, "f.svg")       # or write an SVG/PNG/PDF through `dot`
    draw_graph(f, backward=True)   # the backward pass: rules and local derivatives, visit order

Value nodes are records: the tensor's name, its data, its gradient. Op nodes
are small boxes with the op and its settings. Ops recorded inside an
`nn.Module`'s call are grouped in a cluster named after the module.

The graph is walked with an explicit stack, not recursion, so graphs of many
thousands of nodes draw without hitting Python's recursion limit.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphviz
import numpy as np

from ..backward import topological_order
from ..function import Function
from ..grad_mode import enable_grad, no_grad
from ..tensor import Tensor
from ..vjp_rule import VjpRule
from .arrays import array_statistics

__all__ = ["FORMATS", "GraphvizNotFoundError", "draw_graph", "render_graph", "retain_grads", "wire_rules"]

# Output formats render_graph knows; "dot" writes the DOT source itself and
# needs no Graphviz installation.
FORMATS = ("svg", "png", "pdf", "dot")

# A tensor with at most this many elements shows its values; a larger one shows
# its shape and summary statistics.
MAX_SHOWN_ELEMENTS = 16
VALUES_PER_LINE = 4
# The characters per line of an op's rule on a wire of the backward drawing.
RULE_LINE_WIDTH = 30
# A longer tensor name is cut to this many characters and an ellipsis
# (dot refuses a quoted text longer than 16,384 characters).
MAX_NAME_CHARACTERS = 200

RANKDIRS = ("LR", "RL", "TB", "BT")

# Fill colours of the node kinds (see the legend drawn with each graph).
COLORS = {
    "leaf": "#cfe2ff",  # a leaf that requires grad: a parameter or an input you differentiate by
    "constant": "#e9ecef",  # a tensor that needs no gradient: data, labels, masks
    "intermediate": "#fff8dc",  # the result of an op
    "root": "#c7ecd2",  # the tensor that was drawn (usually the loss)
    "op": "#f6f6f6",  # an op node
}
MODULE_COLOR = "#6f42c1"  # clusters and collapsed module boxes
MODULE_FILL = "#e8e0f5"
DERIVATIVE_COLOR = "#b02a37"  # local derivatives on the wires of the backward drawing
_LEGEND_TEXT = {
    "leaf": "leaf, requires grad",
    "constant": "constant (no grad)",
    "intermediate": "intermediate result",
    "root": "root (the drawn tensor)",
    "op": "op",
}

class GraphvizNotFoundError(RuntimeError):
    """Raised by render_graph when the Graphviz `dot` program is not installed."""


# ---------------------------------------------------------------------------
# Keeping intermediate values and gradients for the drawing
# ---------------------------------------------------------------------------

def retain_grads(root: Tensor) -> int:
    """Keep the gradient of every intermediate tensor in root's graph.

    Calls `retain_grad()` on each non-leaf tensor (root included), so that
    after `root.backward()` they all have a `.grad`; backward also keeps their
    values, so `draw_graph` still shows them once the graph is freed. Call it
    after the forward pass and before `backward`. Returns how many tensors now
    retain their gradient.

        retain_grads(f); f.backward(); draw_graph(f)   # shows q's gradient too
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"retain_grads: root must be a Tensor, got {type(root).__name__}")
    count = 0
    seen: set[int] = set()
    stack = [root]
    while stack:
        tensor = stack.pop()
        fn = tensor._ctx
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        if isinstance(tensor, Tensor):
            tensor.retain_grad()
            count += 1
        stack.extend(fn.parents)
    return count


# ---------------------------------------------------------------------------
# Collecting the graph
# ---------------------------------------------------------------------------


# A value node's key: ("out", id(fn)) for the output of Function fn,
# ("leaf", id(tensor)) for a leaf, ("number", id(fn), position) for a number
# used by fn (see node_key).
NodeKey = tuple


@dataclass
class Graph:
    """The nodes and wires of a computation graph, in a form easy to draw.

    A value node is keyed by the Function that made it (one output per
    Function), or by the tensor object itself for a leaf (a number, by the op
    that uses it and its position there): after backward has
    released the graph, one intermediate tensor can be represented by several
    stub objects, and keying by the Function merges them back into one node.
    """

    root_key: NodeKey
    values: dict[NodeKey, Any] = field(default_factory=dict)  # key -> a Tensor, or a released stub of one
    ops: list[Function] = field(default_factory=list)
    op_inputs: dict[int, list[NodeKey]] = field(default_factory=dict)  # id(fn) -> input keys
    op_output: dict[int, NodeKey] = field(default_factory=dict)  # id(fn) -> output key


def node_key(tensor: Any, user: Function | None = None, position: int = 0) -> NodeKey:
    if tensor._ctx is not None:
        return ("out", id(tensor._ctx))
    if user is not None and _is_number(tensor):
        # `x * 2.0` and `y * 2.0` share one constant tensor (ops.py caches them);
        # like a number in a textbook drawing, it is drawn beside each op that uses it.
        return ("number", id(user), position)
    return ("leaf", id(tensor))


def _is_number(tensor: Any) -> bool:
    """An unnamed 0-d tensor that needs no gradient: a number met in an expression."""
    return not tensor.requires_grad and tensor.name is None and tensor.shape == ()


def collect_graph(root: Tensor) -> Graph:
    """Walk from root back to the leaves with an explicit stack (no recursion)."""
    graph = Graph(root_key=node_key(root))
    stack = [(root, graph.root_key)]
    while stack:
        tensor, key = stack.pop()
        known = graph.values.get(key)
        if known is not None:
            # Prefer a real tensor (it has values) over a released stub of it (anything but a Tensor).
            if not isinstance(known, Tensor) and isinstance(tensor, Tensor):
                graph.values[key] = tensor
            continue
        graph.values[key] = tensor
        fn = tensor._ctx
        if fn is None:
            continue
        parent_keys = [node_key(p, fn, i) for i, p in enumerate(fn.parents)]
        graph.ops.append(fn)
        graph.op_inputs[id(fn)] = parent_keys
        graph.op_output[id(fn)] = key
        # Reversed, so the first input is drawn (and numbered) first.
        stack.extend(reversed(list(zip(fn.parents, parent_keys))))
    return graph


def _backward_visit_order(graph: Graph) -> list[NodeKey]:
    """The value nodes in the order backward visits them (the root first).

    The engine's own topological order, read backwards. After backward has
    released the graph, one intermediate tensor can stand in it as several
    released stubs; they share a node key, and the first of them in the
    order (inputs before outputs) is where the node is.
    """
    first_positions: dict[NodeKey, None] = {}  # a dict keeps the order in which the keys were met
    for tensor in topological_order([graph.values[graph.root_key]]):
        first_positions.setdefault(node_key(tensor), None)
    return list(reversed(first_positions))


# ---------------------------------------------------------------------------
# Text of the labels
# ---------------------------------------------------------------------------


# Characters dot cannot take: a NUL ends its C strings, a lone surrogate (half
# of a UTF-16 pair) cannot be written in UTF-8, and other control characters
# would make the SVG file invalid XML. Each is drawn as U+FFFD, the
# replacement character.
_UNDRAWABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _drawable(text: str) -> str:
    """The text with "&" written as "&amp;" (dot reads "&amp;", "&#60;" and
    the like as the characters they name) and undrawable characters replaced."""
    return _UNDRAWABLE.sub("\ufffd", text.replace("&", "&amp;"))


def _escape_record(text: str) -> str:
    """Escape the characters that have a meaning inside a record label."""
    text = _drawable(text).replace("\\", "\\\\").replace("\n", "\\n")
    return re.sub(r'([{}|<>"])', r"\\\1", text)


def _escape_plain(text: str) -> str:
    """Escape a label that is not a record (backslashes and "&" matter; quotes
    are escaped by the graphviz package)."""
    return _drawable(text).replace("\\", "\\\\").replace("\n", "\\n")


def _short_name(name: Any) -> str:
    """A tensor's name as drawn: at most MAX_NAME_CHARACTERS characters, a longer one cut with an ellipsis."""
    text = str(name)
    if len(text) <= MAX_NAME_CHARACTERS:
        return text
    return text[: MAX_NAME_CHARACTERS - 1] + "…"


def _number(value: Any, precision: int) -> str:
    """A number with `precision` significant digits: -2, 0.3333, 1.5e+04."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if value == 0:
        return "0"  # also for -0.0
    return f"{value:.{precision}g}"


def _values_lines(array: np.ndarray, precision: int) -> list[str]:
    """The elements of a small array, one row per line."""
    if array.ndim == 0:
        return [_number(array.item(), precision)]
    if array.size == 0:
        return ["empty"]
    rows = array.reshape(-1, array.shape[-1]) if array.ndim > 1 else array.reshape(1, -1)
    lines = []
    for row in rows:
        numbers = [_number(v, precision) for v in row]
        # A long row is wrapped, VALUES_PER_LINE numbers to a line.
        chunks = [numbers[i : i + VALUES_PER_LINE] for i in range(0, len(numbers), VALUES_PER_LINE)] or [[]]
        for i, chunk in enumerate(chunks):
            start = "[" if i == 0 else " "
            end = "]" if i == len(chunks) - 1 else ","
            lines.append(start + ", ".join(chunk) + end)
    return lines


def _stats_lines(array: np.ndarray, precision: int) -> list[str]:
    """Summary statistics of a large array."""
    if array.size == 0:
        return ["empty"]
    stats = array_statistics(array)
    p = precision
    return [
        f"mean {_number(stats['mean'], p)}  std {_number(stats['std'], p)}",
        f"min {_number(stats['min'], p)}  max {_number(stats['max'], p)}",
    ]


def _array_lines(array: np.ndarray, precision: int) -> list[str]:
    if array.size <= MAX_SHOWN_ELEMENTS:
        return _values_lines(array, precision)
    return _stats_lines(array, precision)


def _shape_text(shape: tuple[int, ...], dtype: Any) -> str:
    return f"shape {tuple(shape)} {np.dtype(dtype).name}"


def _snake_case(name: str) -> str:
    """CamelCase class name -> the op's function name: MaxPool2d -> max_pool2d."""
    special = {"MatMul": "matmul", "GetItem": "getitem", "Relu": "relu"}
    if name in special:
        return special[name]
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _format_setting(value: Any, precision: int, depth: int = 0) -> str:
    """A short text for an op setting; arrays are summarised, not printed."""
    if isinstance(value, np.ndarray):
        if value.size <= 4:
            return "[" + ", ".join(_number(v, precision) for v in value.ravel()) + "]"
        return f"{value.dtype.name}{list(value.shape)}"
    if isinstance(value, slice):
        parts = ["" if v is None else str(v) for v in (value.start, value.stop, value.step)]
        return ":".join(parts[:2]) + (f":{parts[2]}" if parts[2] else "")
    if value is Ellipsis:
        return "..."
    if isinstance(value, (tuple, list)) and depth < 2:
        inner = ", ".join(_format_setting(v, precision, depth + 1) for v in value)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, (float, np.floating)):
        return _number(value, precision)
    if isinstance(value, (np.dtype, type)):
        try:
            return np.dtype(value).name
        except TypeError:
            return getattr(value, "__name__", repr(value))
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# Window settings of convolutions and pools: a pair of equal numbers is shown
# once (stride=2 for (2, 2)), and a setting at its usual default is left out.
_WINDOW_SETTINGS = ("kernel", "kernel_size", "stride", "padding", "dilation", "output_padding")
_HIDDEN_DEFAULTS = {"padding": 0, "dilation": 1, "groups": 1, "output_padding": 0}


def _window_value(value: Any) -> Any:
    """(2, 2) -> 2; (1, 2) stays (1, 2)."""
    if isinstance(value, (tuple, list)) and value and all(v == value[0] for v in value):
        return value[0]
    return value


def _op_label(fn: Function, precision: int) -> str:
    """`conv2d stride=2 padding=1`: the op and its settings (None ones left out)."""
    words = [_snake_case(fn.name)]
    for key, value in fn.settings.items():
        if value is None:
            continue
        if key in _WINDOW_SETTINGS or key == "groups":
            value = _window_value(value)
            if isinstance(value, (int, np.integer)) and _HIDDEN_DEFAULTS.get(key) == value:
                continue
        words.append(f"{key}={_format_setting(value, precision)}")
    return " ".join(words)


def _value_kind(graph: Graph, key: NodeKey) -> str:
    tensor = graph.values[key]
    if key == graph.root_key:
        return "root"
    if tensor._ctx is not None:
        return "intermediate"
    return "leaf" if tensor.requires_grad else "constant"


def display_name(graph: Graph, key: NodeKey) -> str:
    """The tensor's own name, or the op that made it, or what kind of leaf it is."""
    tensor = graph.values[key]
    if tensor.name:
        return _short_name(tensor.name)
    if tensor._ctx is not None:
        return _snake_case(tensor._ctx.name)
    return "leaf" if tensor.requires_grad else "constant"


def readable_names(graph: Graph) -> tuple[dict[NodeKey, str], dict[int, str]]:
    """Names a learner can tell apart, for the step-through page.

    Ops of a kind that occurs more than once are numbered in the order the
    forward pass ran them ("mul #3"); a result without a name of its own is
    "output of mul #3"; a cross-entropy's one-hot input is "target".
    Returns (value key -> name, id(op) -> name).
    """
    forward = list(reversed(graph.ops))  # graph.ops runs from the root back
    counts: dict[str, int] = {}
    for fn in forward:
        counts[fn.name] = counts.get(fn.name, 0) + 1
    seen: dict[str, int] = {}
    op_names: dict[int, str] = {}
    for fn in forward:
        seen[fn.name] = seen.get(fn.name, 0) + 1
        name = _snake_case(fn.name)
        op_names[id(fn)] = f"{name} #{seen[fn.name]}" if counts[fn.name] > 1 else name
    value_names: dict[NodeKey, str] = {}
    for key, tensor in graph.values.items():
        if tensor.name:
            value_names[key] = _short_name(tensor.name)
        elif tensor._ctx is not None:
            value_names[key] = "output of " + op_names[id(tensor._ctx)]
        else:
            value_names[key] = display_name(graph, key)
    for fn in forward:
        if fn.name == "CrossEntropy":
            target = graph.op_inputs[id(fn)][1]
            if not graph.values[target].name and not graph.values[target].requires_grad:
                value_names[target] = "target"
    return value_names, op_names


def _value_label(
    graph: Graph,
    key: NodeKey,
    options: DrawingOptions,
    step: int | None,
    name: str | None = None,
) -> str:
    """The record label of a value node: name (by default its display name), then data, then gradient."""
    tensor = graph.values[key]
    p = options.precision
    header = name or display_name(graph, key)
    if step is not None:
        header = f"#{step}  {header}"
    fields = [_escape_record(header)]
    released = not isinstance(tensor, Tensor)
    small = int(np.prod(tensor.shape)) <= MAX_SHOWN_ELEMENTS
    if len(tensor.shape) > 0 or not small or released:
        fields.append(_escape_record(_shape_text(tensor.shape, tensor.dtype)))
    if released:
        fields.append(_escape_record("values released by backward"))
    else:
        if options.show_data:
            fields.append(_lines_field("data", _array_lines(tensor.data, p)))
        if options.show_grad and tensor.requires_grad:
            grad = tensor.grad
            if grad is None:
                fields.append(_escape_record("grad none"))
            else:
                fields.append(_lines_field("grad", _array_lines(np.asarray(grad.data), p)))
    # Fields separated by | stack top to bottom in a left-to-right graph; in a
    # top-to-bottom graph they need braces to do the same.
    body = " | ".join(fields)
    return body if options.rankdir in ("LR", "RL") else "{" + body + "}"


def _lines_field(title: str, lines: list[str]) -> str:
    """One record field: `title first-line`, further lines below it."""
    escaped = [_escape_record(line) for line in lines]
    if len(escaped) == 1:
        return f"{title} {escaped[0]}"
    return title + "\\n" + "\\n".join(escaped)


# ---------------------------------------------------------------------------
# The backward drawing's wires: each op's rule and, for scalar ops, the number
# ---------------------------------------------------------------------------


def wire_rules(fn: Function | type[Function], n_inputs: int) -> list[str]:
    """The part of an op's `vjp_rule` that belongs to each of its inputs.

    A library op's rule is a VjpRule, one entry per input in order ("dL/da =
    g·b" for a, "dL/db = g·a" for b); an input that gets no gradient (a
    target) gets "". A plain string (an op defined outside the library) is
    given whole to every input; an op that declares no rule gives empty texts.
    """
    rule = fn.vjp_rule
    if isinstance(rule, VjpRule):
        return rule.templates(n_inputs)
    return [rule] * n_inputs


def local_derivatives(
    fn: Function, inputs: list[np.ndarray], requires_grad: list[bool], output_shape: tuple[int, ...], output_dtype: Any
) -> list[float | None] | None:
    """d(output)/d(input) for each input of a scalar op, from the op's own VJP.

    Only for ops whose inputs and output are single numbers. The op's
    backward is called with an upstream gradient of 1, so each gradient it
    returns is a local derivative (None for an input that needs none). A node
    that backward has released no longer has what its forward saved, so the
    op is run again on the same inputs (a fresh node of the same class, with
    the same settings) and that node's backward is called instead. Used by the
    backward drawing and by the step-through page.
    """
    if not inputs or any(np.size(a) != 1 for a in inputs) or int(np.prod(output_shape)) != 1:
        return None
    node = fn
    if fn.released:
        with enable_grad():
            tensors = [Tensor._make(np.asarray(a)) for a in inputs]
            for tensor, needed in zip(tensors, requires_grad):
                if needed:
                    tensor.requires_grad_(True)
            result = type(fn).apply(*tensors, **fn.settings)  # kept: a VJP may read its output
        if result._ctx is None:
            return None
        node = result._ctx
    seed = Tensor._make(np.ones(output_shape, dtype=output_dtype))
    with no_grad(), np.errstate(all="ignore"):
        grads = node.backward(seed)
    derivatives: list[float | None] = []
    for needed, grad in zip(requires_grad, grads):
        # The VJP may return the gradient in a broadcast shape: its sum is
        # what the engine would hand to the input.
        derivatives.append(float(np.sum(grad.data)) if needed and grad is not None else None)
    return derivatives


# ---------------------------------------------------------------------------
# Modules: clusters and collapsed boxes
# ---------------------------------------------------------------------------


def _module_of_value(graph: Graph, key: NodeKey, consumers: dict[NodeKey, set]) -> str | None:
    """The module a value node belongs to.

    A result belongs to the module of the op that made it. A leaf named after
    a module (`conv1.weight`) belongs to that module; an unnamed constant used
    only inside one module (a dropout mask) belongs to it too. Anything else,
    such as the input images, stays outside every module.
    """
    tensor = graph.values[key]
    if tensor._ctx is not None:
        return tensor._ctx.module
    users = consumers.get(key, set())
    name = tensor.name
    if name and "." in str(name):
        owner = str(name).rsplit(".", 1)[0]
        if owner in users:
            return owner
    if not name and not tensor.requires_grad and len(users) == 1:
        return next(iter(users))
    return None


def _cluster_name(path: str) -> str:
    return "cluster_" + re.sub(r"[^A-Za-z0-9_]", "_", path)


def _ancestors(path: str) -> list[str]:
    """'features.0' -> ['features', 'features.0']."""
    parts = path.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


# ---------------------------------------------------------------------------
# draw_graph
# ---------------------------------------------------------------------------


@dataclass
class DrawingOptions:
    show_data: bool
    show_grad: bool
    backward: bool
    rankdir: str
    precision: int
    collapse_modules: bool
    legend: bool


def _check_options(options: DrawingOptions) -> None:
    if options.rankdir not in RANKDIRS:
        raise ValueError(f"draw_graph: rankdir must be one of {', '.join(RANKDIRS)}, got {options.rankdir!r}")
    if isinstance(options.precision, bool) or not isinstance(options.precision, int) or options.precision < 1:
        raise ValueError(f"draw_graph: precision must be a positive int, got {options.precision!r}")


def draw_graph(
    root: Tensor,
    *,
    show_data: bool = True,
    show_grad: bool = True,
    backward: bool = False,
    rankdir: str = "LR",
    precision: int = 4,
    collapse_modules: bool = False,
    legend: bool = True,
) -> graphviz.Digraph:
    """Draw the graph that computed `root`, as a graphviz.Digraph.

    Each tensor is a record: its name (set with `Tensor(..., name=)` or
    `t.name = ...`; an unnamed result is named by its op), its data and its
    gradient. Up to 16 elements are shown as values; a larger tensor shows its
    shape, dtype and mean/std/min/max. Each op is a small box with its
    settings. Ops recorded inside an nn.Module's call are grouped in a cluster
    labelled with the module's path. Names are drawn literally ("&amp;"
    stays those five characters); a name longer than MAX_NAME_CHARACTERS
    (200) is cut with an ellipsis, and characters dot cannot take (NUL, lone
    surrogates, other control characters) are drawn as U+FFFD.

    show_data, show_grad: include the data / gradient fields.
    backward: draw the backward pass: arrows point from outputs to inputs,
        each wire into an input that requires grad carries the op's VJP rule
        for that input (its `vjp_rule`, g being the gradient from the output),
        the wires of scalar ops also their local derivative d(output)/d(input)
        in numbers (from the op's own VJP), and value nodes are numbered in
        the order backward visits them (#1 is the root).
    rankdir: "LR" (left to right), "RL", "TB" (top to bottom) or "BT".
    precision: significant digits of the numbers.
    collapse_modules: draw each module as a single box (recommended for large
        networks).
    legend: add a small legend of the node colours.

    Intermediate tensors keep no gradient unless asked: call
    `retain_grads(root)` before `root.backward()` to see them. After a
    backward pass that freed the graph, the drawing still shows names and
    shapes, and says where the values were released.

    The result renders itself in Jupyter; `.source` is the DOT text, and
    `render_graph` writes a file.
    """
    if not isinstance(root, Tensor):
        raise TypeError(f"draw_graph: root must be a Tensor, got {type(root).__name__}")
    options = DrawingOptions(show_data, show_grad, backward, rankdir, precision, collapse_modules, legend)
    _check_options(options)
    graph = collect_graph(root)
    return Drawing(graph, options).build()


class Drawing:
    """Turns a collected Graph into a graphviz.Digraph."""

    def __init__(self, graph: Graph, options: DrawingOptions, readable: bool = False) -> None:
        """readable: number repeated ops and name results as `readable_names` does (the page's drawing)."""
        self.graph = graph
        self.options = options
        self.value_names, self.op_names = readable_names(graph) if readable else ({}, {})
        self.dot = graphviz.Digraph("computation_graph")
        self.dot.attr(rankdir=options.rankdir, fontname="Helvetica", fontsize="11", newrank="true")
        self.dot.attr("node", fontname="Helvetica", fontsize="10")
        self.dot.attr("edge", fontname="Helvetica", fontsize="9", color="#555555")
        # Stable, readable node ids (v0, v1, ..., op0, ...) so the DOT text and
        # the rendered file are the same every time.
        self.value_ids = {key: f"v{i}" for i, key in enumerate(graph.values)}
        self.op_ids = {id(fn): f"op{i}" for i, fn in enumerate(graph.ops)}
        # The modules whose ops use each value.
        consumers: dict[NodeKey, set] = {}
        for fn in graph.ops:
            for key in graph.op_inputs[id(fn)]:
                consumers.setdefault(key, set()).add(fn.module)
        self.value_module = {key: _module_of_value(graph, key, consumers) for key in graph.values}
        self.steps: dict[NodeKey, int] = {}
        if options.backward:
            order = _backward_visit_order(graph)
            self.steps = {key: i + 1 for i, key in enumerate(order)}
        # Statements for each cluster: module path -> list of (kind, args).
        self.members: dict[str | None, list[tuple[str, str, dict[str, str]]]] = {}
        # Edges are written after all nodes, so the DOT text reads nodes first.
        self.edges: list[tuple[str, str, dict[str, str]]] = []
        self.edge_ids: dict[str, int] = {}
        self.box_ids: dict[str, str] = {}  # module path -> id of its box, when modules are collapsed

    # --- nodes --------------------------------------------------------------

    def _add_node(self, module: str | None, node_id: str, attrs: dict[str, str]) -> None:
        attrs["id"] = node_id  # the SVG element's id, so a page's script can find the node
        self.members.setdefault(module, []).append(("node", node_id, attrs))

    def _value_node(self, key: NodeKey, module: str | None) -> None:
        kind = _value_kind(self.graph, key)
        tensor = self.graph.values[key]
        label = _value_label(self.graph, key, self.options, self.steps.get(key), self.value_names.get(key))
        attrs = {
            "label": graphviz.nohtml(label),
            "shape": "record",
            "style": "filled" if isinstance(tensor, Tensor) else "filled,dashed",
            "fillcolor": COLORS[kind],
        }
        if kind == "root":
            attrs["penwidth"] = "2"
        self._add_node(module, self.value_ids[key], attrs)

    def _op_node(self, fn: Function) -> None:
        label = _op_label(fn, self.options.precision)
        if id(fn) in self.op_names:  # "mul #3": the op's name numbered, then its settings
            label = self.op_names[id(fn)] + label[len(_snake_case(fn.name)) :]
        label = _escape_plain(label)
        attrs = {
            "label": graphviz.nohtml(label),
            "shape": "box",
            "style": "rounded,filled",
            "fillcolor": COLORS["op"],
            "fontsize": "9",
            "height": "0.3",
            "margin": "0.06,0.03",
        }
        self._add_node(fn.module, self.op_ids[id(fn)], attrs)

    # --- edges --------------------------------------------------------------

    def _edge(
        self, tail: str, head: str, label: str | None = None, constant: bool = False, derivative: bool = False
    ) -> None:
        attrs: dict[str, str] = {}
        if self.options.backward:
            # Declared forward, drawn backward: the layout stays that of the
            # forward drawing and the arrowheads point at the inputs.
            attrs["dir"] = "back"
        if label is not None:
            attrs["label"] = graphviz.nohtml(_escape_plain(label))
            if derivative:
                attrs["fontcolor"] = DERIVATIVE_COLOR
        if constant:
            attrs["style"] = "dashed"
            attrs["color"] = "#999999"
        # The SVG id "tail->head" ("tail->head#2" for a second wire between the same two nodes: x * x).
        edge_id = f"{tail}->{head}"
        attrs["id"] = edge_id + (f"#{self.edge_ids[edge_id]}" if edge_id in self.edge_ids else "")
        self.edge_ids[edge_id] = self.edge_ids.get(edge_id, 1) + 1
        self.edges.append((tail, head, attrs))

    def _wire_label(self, fn: Function, index: int, rule: str, derivatives: list[float | None] | None) -> str | None:
        """The op's rule for this input, and below it the local derivative
        d(output)/d(input) in numbers when the op is scalar."""
        # A long rule is wrapped, so it does not stretch the layout.
        lines = textwrap.wrap(rule, RULE_LINE_WIDTH, break_long_words=False, break_on_hyphens=False) if rule else []
        if derivatives is not None and derivatives[index] is not None:
            out_name = display_name(self.graph, self.graph.op_output[id(fn)])
            in_name = display_name(self.graph, self.graph.op_inputs[id(fn)][index])
            lines.append(f"∂{out_name}/∂{in_name} = {_number(derivatives[index], self.options.precision)}")
        return "\n".join(lines) if lines else None

    # --- the whole drawing ----------------------------------------------------

    def build(self) -> graphviz.Digraph:
        if self.options.collapse_modules:
            self._build_collapsed()
        else:
            self._build_full()
        self._emit_members()
        for tail, head, attrs in self.edges:
            self.dot.edge(tail, head, **attrs)
        if self.options.legend:
            self._legend()
        return self.dot

    def _build_full(self) -> None:
        graph = self.graph
        for key in graph.values:
            self._value_node(key, self.value_module[key])
        for fn in graph.ops:
            self._op_node(fn)
        for fn in graph.ops:
            op_id = self.op_ids[id(fn)]
            input_keys = graph.op_inputs[id(fn)]
            rules = derivatives = None
            if self.options.backward:
                parents = tuple(graph.values[k] for k in input_keys)
                rules = wire_rules(fn, len(input_keys))
                derivatives = None
                if all(isinstance(p, Tensor) for p in parents):  # released stubs hold no values
                    output = graph.values[graph.op_output[id(fn)]]
                    derivatives = local_derivatives(
                        fn, [p.data for p in parents], [p.requires_grad for p in parents], output.shape, output.dtype
                    )
            for index, key in enumerate(input_keys):
                tensor = graph.values[key]
                label = None
                if rules is not None and tensor.requires_grad:
                    label = self._wire_label(fn, index, rules[index], derivatives)
                self._edge(self.value_ids[key], op_id, label, constant=not tensor.requires_grad, derivative=True)
            self._edge(op_id, self.value_ids[graph.op_output[id(fn)]])

    def _build_collapsed(self) -> None:
        """One box per module (its innermost path); wires between boxes carry
        the shape of the tensor passed along."""
        graph = self.graph
        boxes: dict[str, list[Function]] = {}
        # graph.ops runs from the root back to the inputs: reversed, it lists
        # each module's ops in the order the forward pass ran them.
        for fn in reversed(graph.ops):
            if fn.module is not None:
                boxes.setdefault(fn.module, []).append(fn)
        box_ids = {path: f"m{i}" for i, path in enumerate(boxes)}
        self.box_ids = box_ids

        def hidden(key: NodeKey) -> bool:
            # A value made (or owned) inside a module disappears into its box,
            # except the root, which is always drawn.
            return self.value_module[key] in boxes and key != graph.root_key

        def node_of_value(key: NodeKey) -> str:
            module = self.value_module[key]
            return box_ids[module] if module is not None and hidden(key) else self.value_ids[key]

        for key in graph.values:
            if not hidden(key):
                self._value_node(key, None)
        for path, fns in boxes.items():
            self._box_node(path, fns, box_ids[path])
        for fn in graph.ops:
            if fn.module is None:
                self._op_node(fn)

        drawn: set[tuple[str, str]] = set()
        for fn in graph.ops:
            target = box_ids[fn.module] if fn.module is not None else self.op_ids[id(fn)]
            for key in graph.op_inputs[id(fn)]:
                source = node_of_value(key)
                if source == target or (source, target) in drawn:
                    continue
                drawn.add((source, target))
                tensor = graph.values[key]
                label = str(tuple(tensor.shape)) if hidden(key) else None
                self._edge(source, target, label, constant=not tensor.requires_grad)
            out_key = graph.op_output[id(fn)]
            if not hidden(out_key) and (target, self.value_ids[out_key]) not in drawn:
                drawn.add((target, self.value_ids[out_key]))
                self._edge(target, self.value_ids[out_key])

    def _box_node(self, path: str, fns: list[Function], box_id: str) -> None:
        """A collapsed module: its path, its ops and its parameters."""
        ops: dict[str, int] = {}
        for fn in fns:
            name = _snake_case(fn.name)
            ops[name] = ops.get(name, 0) + 1
        op_text = ", ".join(name if n == 1 else f"{name} x{n}" for name, n in ops.items())
        fields = [_escape_record(path), _escape_record(op_text)]
        for key, tensor in self.graph.values.items():
            if tensor._ctx is None and tensor.name and self.value_module[key] == path:
                fields.append(_escape_record(f"{_short_name(tensor.name)} {tuple(tensor.shape)}"))
        body = " | ".join(fields)
        label = body if self.options.rankdir in ("LR", "RL") else "{" + body + "}"
        attrs = {
            "label": graphviz.nohtml(label),
            "shape": "record",
            "style": "rounded,filled",
            "fillcolor": MODULE_FILL,
        }
        self._add_node(None, box_id, attrs)

    def _emit_members(self) -> None:
        """Write the nodes, each module's inside a (nested) cluster."""
        for _kind, node_id, attrs in self.members.get(None, []):
            self.dot.node(node_id, **attrs)
        # The tree of module paths: 'features.0' sits inside 'features'.
        paths = sorted({a for path in self.members if path is not None for a in _ancestors(path)})
        children: dict[str | None, list[str]] = {}
        for path in paths:
            parent = path.rsplit(".", 1)[0] if "." in path else None
            children.setdefault(parent, []).append(path)
        # Distinct DOT names, even for paths that differ only in punctuation.
        cluster_names: dict[str, str] = {}
        for path in paths:
            name = _cluster_name(path)
            while name in cluster_names.values():
                name += "_"
            cluster_names[path] = name
        # Make the clusters in depth-first order (iteratively, with a stack)...
        made: list[tuple[str, graphviz.Digraph, graphviz.Digraph]] = []
        pending = [(path, self.dot) for path in reversed(children.get(None, []))]
        while pending:
            path, parent_graph = pending.pop()
            cluster = graphviz.Digraph(name=cluster_names[path])
            label = graphviz.nohtml(_escape_plain(path))
            cluster.attr(label=label, style="rounded,dashed", color=MODULE_COLOR, fontcolor=MODULE_COLOR)
            cluster.attr(id=cluster_names[path])
            for _kind, node_id, attrs in self.members.get(path, []):
                cluster.node(node_id, **attrs)
            made.append((path, cluster, parent_graph))
            for child in reversed(children.get(path, [])):
                pending.append((child, cluster))
        # ...then attach them, deepest first: subgraph() copies a cluster's
        # text, so a cluster must be complete before it goes into its parent.
        made.sort(key=lambda item: -item[0].count("."))
        for _path, cluster, parent_graph in made:
            parent_graph.subgraph(cluster)

    def _legend(self) -> None:
        rows = []
        for kind in ("root", "intermediate", "leaf", "constant", "op"):
            rows.append(f'<TR><TD BGCOLOR="{COLORS[kind]}">{_LEGEND_TEXT[kind]}</TD></TR>')
        if self.options.collapse_modules:
            rows.append(f'<TR><TD BGCOLOR="{MODULE_FILL}">module (collapsed)</TD></TR>')
        if self.options.backward:
            rows.append("<TR><TD>#k: k-th node backward visits</TD></TR>")
            rows.append(f'<TR><TD><FONT COLOR="{DERIVATIVE_COLOR}">dL/din = ...</FONT>: the op\'s rule, '
                        "g = gradient from the output</TD></TR>")
            rows.append(f'<TR><TD><FONT COLOR="{DERIVATIVE_COLOR}">∂out/∂in</FONT>: local derivative</TD></TR>')
        table = '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">'
        table += '<TR><TD BORDER="0"><B>legend</B></TD></TR>' + "".join(rows) + "</TABLE>>"
        self.dot.node("legend", label=table, shape="plaintext", fontsize="9")


# ---------------------------------------------------------------------------
# Rendering through `dot`
# ---------------------------------------------------------------------------


def format_from_path(path: Path, format: str | None) -> str:
    if format is None:
        suffix = path.suffix.lower().lstrip(".")
        format = {"gv": "dot"}.get(suffix, suffix) if suffix else "svg"
        if format not in FORMATS:
            raise ValueError(
                f"render_graph: cannot tell the format from the file name {path.name!r}; "
                f"pass format= one of {', '.join(FORMATS)}"
            )
    if format not in FORMATS:
        raise ValueError(f"render_graph: unknown format {format!r}; known formats: {', '.join(FORMATS)}")
    return format


def render_graph(root: Tensor, path: str | Path, format: str | None = None, **options: Any) -> str:
    """Draw root's graph and write it to `path` with the Graphviz `dot` program.

    format: "svg", "png", "pdf", or "dot" (the DOT text; needs no Graphviz);
        by default taken from the file name's suffix.
    options: passed to draw_graph (backward=True, collapse_modules=True, ...).
    Returns the path written. Raises GraphvizNotFoundError, saying how to
    install Graphviz, when `dot` is missing.
    """
    path = Path(path)
    format = format_from_path(path, format)
    drawing = draw_graph(root, **options)
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    if format == "dot":
        path.write_text(drawing.source, encoding="utf-8")
        return str(path)
    without_dot = "use draw_graph(...).source to get the DOT text"
    run_dot(drawing.source, format, "render_graph", output=path, or_else=without_dot)
    return str(path)


def run_dot(source: str, format: str, who: str, output: Path | None = None, or_else: str = "") -> bytes:
    """Lay out DOT text with the Graphviz program `dot`, in `format` ("svg", "png", ...).

    Returns what dot printed, or writes it to `output` when given (and
    returns b""). who: the function named at the start of an error message;
    or_else: what the user can do without Graphviz, added to the install hint.
    Raises GraphvizNotFoundError, saying how to install Graphviz, when `dot`
    is not on PATH, and RuntimeError with dot's own message when it fails.
    """
    dot_program = shutil.which("dot")
    if dot_program is None:
        hint = (
            "the Graphviz program `dot` was not found on PATH; install Graphviz "
            "(Debian/Ubuntu: `sudo apt-get install graphviz`, macOS: `brew install graphviz`, "
            "conda: `conda install graphviz`)"
        )
        raise GraphvizNotFoundError(f"{who}: {hint}" + (f", or {or_else}" if or_else else ""))
    command = [dot_program, f"-T{format}"]
    if output is not None:
        command += ["-o", str(output)]
    result = subprocess.run(command, input=source.encode("utf-8"), capture_output=True)
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", errors="replace").strip()
        raise RuntimeError(f"{who}: dot failed with exit code {result.returncode}: {message}")
    return result.stdout
