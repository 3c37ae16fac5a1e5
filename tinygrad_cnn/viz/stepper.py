"""The step-through page: watch the backward pass of your own graph, step by step.

    from tinygrad_cnn.viz import save_stepper, step_through

    save_stepper(loss, "steps.html")   # runs loss.backward() and writes the page
    step_through(loss)                 # the same page, shown inline in Jupyter

The page is one self-contained HTML file: the drawing of `draw_graph` (laid
out by Graphviz's `dot`, embedded as SVG), the recorded backward pass as JSON,
and a small script (viz/page/stepper.js) that steps through it. It opens from
disk, needs no server and loads nothing from anywhere (a Content-Security-
Policy forbids it).

Every number on the page comes from the engine's own backward pass, recorded
by `record_backward`; the page computes nothing but the SGD preview and, for
a clicked cell of a gradient, the terms of its sum (viz/page/explain.js, from
the recorded arrays; a test checks that they add up to the recorded value). When the
page is written, each op's VJP is also checked once by finite differences
(float64, random upstream gradient), and the page marks each op pass or fail.
"""

from __future__ import annotations

import html
import math
import numbers
import os
import re
import tempfile
from pathlib import Path
from typing import Any, overload

import numpy as np

from ..backward import fit_to
from ..float_errors import quiet_region
from ..function import Function
from ..grad_mode import enable_grad, no_grad
from ..gradcheck import directional_check
from ..tensor import Tensor
from ..vjp_rule import VjpRule
from .arrays import array_statistics, exact_bytes
from .drawing import (
    COLORS,
    MODULE_FILL,
    RANKDIRS,
    Drawing,
    DrawingOptions,
    Graph,
    collect_graph,
    display_name,
    local_derivatives,
    node_key,
    run_dot,
    wire_rules,
)
from .page_file import content_security_policy, fill_page, json_for_script, page_asset, page_script
from .recorder import Tape, TapeNode, Visit, record_backward

__all__ = ["Stepper", "save_stepper", "step_through"]

# Arrays up to this many elements are embedded in full (exact bytes, base64):
# every cell of them can be shown and explained. Larger ones as statistics, a
# histogram and the first few 2-D maps. (LeNet's 32 feature maps of 28x28 for
# two images, 50,176 numbers, are embedded in full; its fc1.weight is not.)
FULL_ELEMENTS = 65536
# A graph with modules opens collapsed above this many nodes (values and ops).
EXPANDED_UP_TO = 40
# window.stepper.state() gives a gradient up to this size as nested lists,
# a larger one as its statistics (a LeNet page's state() stays quick).
STATE_ELEMENTS = 4096
PREVIEW_ELEMENTS = 4096
PREVIEW_MAPS = 16
HISTOGRAM_BINS = 30
# Values spanning more than this are histogrammed divided by 4 (see _histogram).
HUGE_SPAN = 2.0**1020
# The finite-difference probe: central differences in float64, PyTorch's
# tolerances; a second, smaller step where the first one fails.
PROBE_EPS = (1e-6, 1e-8)
PROBE_ATOL = 1e-5
PROBE_RTOL = 1e-3
# The page is for graphs of up to this many ops. A chain of 1,000 ops takes
# about 3 s and makes a 4 MB page; 2,000 take 25 s (dot's layout grows
# faster than the graph) and 5,000 over two minutes and 19 MB.
MAX_PAGE_OPS = 1000
# Significant digits the page can show (17 is every digit of a float64).
MAX_PRECISION = 17
# The arrays among an op's settings that its explainer reads (see _PageData.setting_arrays).
_SETTING_ARRAYS = {
    "Where": ("condition",),
    "BatchNormalize": ("inv_std",),
    "MaxPool2dBackward": ("argmax",),
    "MaxPool2dGather": ("argmax",),
}


class Stepper:
    """A step-through page of one backward pass.

    `.html` is the page; `.save(path)` writes it; in Jupyter the object shows
    the page inline (in an iframe, so its script and its security policy stay
    apart from the notebook's).
    """

    def __init__(self, html_text: str, tape: Tape) -> None:
        self.html = html_text
        self.tape = tape

    def save(self, path: str | Path) -> str:
        path = Path(path)
        if path.parent != Path(""):
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.html, encoding="utf-8")
        return str(path)

    def _repr_html_(self) -> str:
        page = html.escape(self.html, quote=True)
        return (
            f'<iframe srcdoc="{page}" sandbox="allow-scripts" '
            'style="width: 100%; height: 760px; border: 1px solid #ccc"></iframe>'
        )

    def __repr__(self) -> str:
        return f"<Stepper: {len(self.tape.visits)} backward steps, {len(self.html):,} characters of HTML>"


def step_through(
    root: Tensor,
    gradient: Any = None,
    *,
    collapse_modules: bool | None = None,
    rankdir: str | None = None,
    precision: int = 4,
    lr: float = 0.1,
    seed: int = 0,
    title: str | None = None,
) -> Stepper:
    """Run root's backward pass (as `root.backward(gradient)` would, `.grad`
    included), record it, and make the step-through page.

    collapse_modules: open with each module drawn as one box (the page can
        switch); by default, when the graph has modules and more than 40
        nodes (values and ops).
    rankdir: direction of the layout, as in draw_graph; by default "LR", or
        "TB" (top to bottom) for a network of modules, which is a long chain.
    precision: significant digits of the numbers shown.
    lr: the learning rate the SGD preview starts with (editable in the page).
    seed: seed of the random upstream gradients of the finite-difference probes.
    title: the page's title (default: "Backward pass of <root's name>").

    Every option, and the size of the graph (at most MAX_PAGE_OPS ops), is
    checked before backward runs, so a mistake leaves the graph and `.grad`
    as they were.
    """
    _check_page_request(root, collapse_modules, rankdir, precision, lr, seed, title)
    graph = collect_graph(root)
    _check_graph_size(graph)
    has_modules = any(fn.module is not None for fn in graph.ops)
    if rankdir is None:
        rankdir = "TB" if has_modules else "LR"
    options = DrawingOptions(False, False, False, rankdir, precision, False, False)
    expanded = Drawing(graph, options, readable=True)
    expanded.dot.attr(nodesep="0.45", ranksep="0.5")
    svg = _render_svg(expanded.build().source)
    collapsed = None
    collapsed_svg = ""
    if has_modules:
        collapsed = Drawing(graph, DrawingOptions(False, False, False, rankdir, precision, True, False), readable=True)
        collapsed.dot.attr(nodesep="0.45", ranksep="0.5")
        collapsed_svg = _prefix_ids(_render_svg(collapsed.build().source), "c-")
    if collapse_modules is None:  # a small model opens with every op in sight
        collapse_modules = has_modules and len(graph.values) + len(graph.ops) > EXPANDED_UP_TO

    tape = record_backward(root, gradient)
    data = _PageData(graph, expanded, collapsed, tape, precision, np.random.default_rng(seed)).build()
    data["title"] = title or f"Backward pass of {display_name(graph, graph.root_key)}"
    data["lr"] = float(lr)
    data["precision"] = int(precision)
    data["stateElements"] = STATE_ELEMENTS
    data["collapsed"] = bool(collapse_modules and has_modules)
    data["colors"] = {**COLORS, "module": MODULE_FILL}
    return Stepper(_page(data, svg, collapsed_svg), tape)


def save_stepper(root: Tensor, path: str | Path, gradient: Any = None, **options: Any) -> str:
    """Run root's backward pass, record it, and write the step-through page to
    `path` (one self-contained HTML file). Returns the path written.
    Options as for `step_through`. The path is checked before backward runs:
    a folder, or a place where no file can be written, is an error that
    leaves the graph and `.grad` as they were."""
    _check_writable_path(path)
    return step_through(root, gradient, **options).save(path)


# ---------------------------------------------------------------------------
# Checks made before any work: backward frees the graph and fills .grad, so
# a mistake found after it would cost the user their graph
# ---------------------------------------------------------------------------


def _check_page_request(
    root: Any, collapse_modules: Any, rankdir: Any, precision: Any, lr: Any, seed: Any, title: Any
) -> None:
    """The root and every option of step_through, or a clear error naming the one that is wrong."""
    if not isinstance(root, Tensor):
        raise TypeError(f"step_through: root must be a Tensor, got {type(root).__name__}")
    if not root.requires_grad:
        raise RuntimeError("step_through: root does not require grad, so it has no backward pass to show")
    if root._ctx is not None and root._ctx.released:
        raise RuntimeError("step_through: root's graph was freed by an earlier backward; build it again")
    if collapse_modules is not None and not isinstance(collapse_modules, (bool, np.bool_)):
        raise TypeError(
            f"step_through: collapse_modules must be True, False or None, got {type(collapse_modules).__name__} "
            f"{collapse_modules!r}"
        )
    if rankdir is not None and rankdir not in RANKDIRS:
        raise ValueError(f"step_through: rankdir must be one of {', '.join(RANKDIRS)} or None, got {rankdir!r}")
    if isinstance(precision, (bool, np.bool_)) or not isinstance(precision, (int, np.integer)):
        raise TypeError(f"step_through: precision must be an int, got {type(precision).__name__} {precision!r}")
    if not 1 <= precision <= MAX_PRECISION:
        raise ValueError(
            f"step_through: precision (significant digits) must be from 1 to {MAX_PRECISION}, got {precision}"
        )
    if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, numbers.Real):
        raise TypeError(f"step_through: lr must be a number, got {type(lr).__name__} {lr!r}")
    if not (math.isfinite(float(lr)) and float(lr) >= 0):
        raise ValueError(f"step_through: lr must be a finite number >= 0, got {lr}")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"step_through: seed must be an int, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"step_through: seed must be >= 0, got {seed}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"step_through: title must be a str or None, got {type(title).__name__} {title!r}")


def _check_graph_size(graph: Any) -> None:
    """Refuse a graph too large for the page, before dot or backward run."""
    count = len(graph.ops)
    if count > MAX_PAGE_OPS:
        raise ValueError(
            f"step_through: the graph has {count:,} ops, and the page is made for graphs of up to "
            f"{MAX_PAGE_OPS:,} (a larger one takes minutes to lay out and makes a page of many megabytes). "
            "Make the page of a smaller part: .detach() the tensor where the part you want to watch begins "
            "(say, a layer's input), or fewer layers or loop steps"
        )


def _check_writable_path(path: Any) -> None:
    """A file can be written at `path` (the missing folders will be created),
    or an error naming the path. Nothing is created or changed here."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"save_stepper: path must be a str or a path, got {type(path).__name__} {path!r}")
    path = Path(path)
    if path.name == "" or path.is_dir():
        raise IsADirectoryError(f"save_stepper: path {str(path)!r} is a folder; name the HTML file to write")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise PermissionError(f"save_stepper: cannot write {str(path)!r}: the file is not writable")
        return
    # The nearest folder that exists must be one we can create a file in.
    folder = path.absolute().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(f"save_stepper: cannot write {str(path)!r}: {str(folder)!r} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise PermissionError(f"save_stepper: cannot write {str(path)!r}: {error.strerror or error}") from None


# ---------------------------------------------------------------------------
# The drawing, through `dot`
# ---------------------------------------------------------------------------


def _render_svg(source: str) -> str:
    text = run_dot(source, "svg", "step_through").decode("utf-8")
    # Inline SVG in HTML needs no XML prolog or DOCTYPE.
    return text[text.index("<svg") :]


def _prefix_ids(svg: str, prefix: str) -> str:
    """The second drawing's ids get a prefix, so both drawings fit in one page.

    A wire's id names both of its ends ("v1->op0", written "v1&#45;&gt;op0" in
    the SVG): both get the prefix ("c-v1->c-op0").
    """

    def prefixed(match: re.Match) -> str:
        ends = match.group(1).split("&#45;&gt;")
        return ' id="' + "&#45;&gt;".join(prefix + end for end in ends) + '"'

    return re.sub(r' id="([^"]*)"', prefixed, svg)


# ---------------------------------------------------------------------------
# Arrays as JSON
# ---------------------------------------------------------------------------


def _encode(array: np.ndarray) -> dict[str, Any]:
    """A small array in full; a large one as statistics, a histogram and a preview of its first 2-D maps."""
    array = np.asarray(array)
    entry: dict[str, Any] = {"shape": list(array.shape), "dtype": array.dtype.name}
    if array.size == 0:
        entry["type"], entry["b64"] = "f8", ""
        return entry
    values = array.astype(np.float64)
    if array.size <= FULL_ELEMENTS:
        entry.update(exact_bytes(array))
        if array.size > 64:
            entry["stats"] = array_statistics(values)
        return entry
    entry["stats"] = array_statistics(values)
    finite = values[np.isfinite(values)]
    if finite.size:
        entry["hist"] = _histogram(finite)
    if array.ndim >= 2:
        height, width = array.shape[-2:]
        if height * width <= PREVIEW_ELEMENTS:
            maps = array.reshape(-1, height, width)
            count = min(maps.shape[0], PREVIEW_MAPS, max(1, PREVIEW_ELEMENTS // (height * width)))
            entry["preview"] = {"shape": [count, height, width], **exact_bytes(maps[:count])}
    return entry


def _histogram(finite: np.ndarray) -> dict[str, Any]:
    """Counts of the finite values in HISTOGRAM_BINS equal bins from their minimum to their maximum.

    numpy's own choice of range fails for some data: one value repeated
    (it widens the range by 0.5, which is nothing next to 1e30) and values
    whose span is near or above the largest float64 (0 to 1.8e308, -1e308 to
    1e308). Both are handled here.
    """
    lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        # Every value is the same: all of them in the middle bin of [lo, hi].
        counts = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
        counts[HISTOGRAM_BINS // 2] = finite.size
        return {"counts": counts.tolist(), "lo": lo, "hi": hi}
    if hi - lo > HUGE_SPAN:
        # numpy's bin edges overflow (or the span itself does): the quarters
        # fit, and dividing by 4 moves no value across a bin of this width.
        counts, _ = np.histogram(finite / 4, bins=HISTOGRAM_BINS, range=(lo / 4, hi / 4))
    else:
        counts, _ = np.histogram(finite, bins=HISTOGRAM_BINS, range=(lo, hi))
    return {"counts": counts.tolist(), "lo": lo, "hi": hi}


class _ArrayTable:
    """Every array the page shows, each once: the engine hands the same array
    to several places (a node's gradient is the `after` of its last contribution)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.index: dict[int, int] = {}
        self.keep: list[np.ndarray] = []  # keeps the arrays alive, so no id is reused

    @overload
    def add(self, array: np.ndarray) -> int: ...

    @overload
    def add(self, array: None) -> None: ...

    def add(self, array: np.ndarray | None) -> int | None:
        """The array's index in the table (None for no array)."""
        if array is None:
            return None
        found = self.index.get(id(array))
        if found is None:
            found = len(self.entries)
            self.entries.append(_encode(array))
            self.index[id(array)] = found
            self.keep.append(array)
        return found


# ---------------------------------------------------------------------------
# The finite-difference probe of one node's VJP
# ---------------------------------------------------------------------------


def _as_float64(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float64) if np.issubdtype(array.dtype, np.floating) else array


def probe_vjp(
    fn: Function, inputs: list[np.ndarray], needs_grad: list[bool], rng: np.random.Generator
) -> dict[str, Any]:
    """Check one op's VJP against central differences, in float64.

    With a random upstream gradient v and a random direction u of the inputs,
    the VJP's (v^T J) u must match the numeric derivative of v . f(x + t u)
    at t = 0 (gradcheck's fast mode, `directional_check`). Where the left and right differences disagree, the op is not
    differentiable at this input (a tie in a max, a zero in a ReLU) and there
    is nothing to compare against: the probe says so instead of failing.
    """
    op = type(fn)
    settings = fn.settings
    arrays = [_as_float64(a) for a in inputs]
    checked = [i for i, a in enumerate(arrays) if needs_grad[i] and np.issubdtype(a.dtype, np.floating)]
    if not checked:
        return {"status": "skip", "reason": "no floating-point input to differentiate"}
    computed = [name for name, value in settings.items() if isinstance(value, np.ndarray) and value.dtype.kind == "f"]
    if computed:
        # (BatchNormalize gets the batch's mean and 1/std this way: its VJP
        # differentiates through them, a probe with them held fixed would not.)
        return {
            "status": "skip",
            "reason": f"the op is given arrays computed from its inputs ({', '.join(computed)}), "
            "so running it alone again is not the function its VJP differentiates",
        }
    try:
        with enable_grad():
            tensors = [Tensor(a, requires_grad=i in checked) for i, a in enumerate(arrays)]
            out = op.apply(*tensors, **settings)
            if out.dtype != np.float64:
                return {"status": "skip", "reason": f"the op's output is {out.dtype.name}, not float64"}
            v = rng.standard_normal(out.shape)
            directions = {i: rng.standard_normal(arrays[i].shape) for i in checked}
            assert out._ctx is not None  # its inputs require grad
            vjp = out._ctx.backward(Tensor(v))
        analytic = 0.0
        for i in checked:
            gradient = vjp[i]
            if gradient is not None:
                analytic += float((fit_to(gradient, arrays[i]).data * directions[i]).sum())

        def projected(t: float) -> float:
            moved = [a + t * directions[i] if i in directions else a for i, a in enumerate(arrays)]
            with no_grad():
                return float((op.apply(*[Tensor(a) for a in moved], **settings).data * v).sum())

        centre = projected(0.0)
        # A step can cross a kink (a ReLU input a hair from zero): a second,
        # smaller step then tells a crossing from a wrong VJP, which fails at both.
        for eps in PROBE_EPS:
            check = directional_check(projected, analytic, eps=eps, atol=PROBE_ATOL, rtol=PROBE_RTOL)
            result: dict[str, Any] = {
                "analytic": analytic,
                "numeric": check.numerical,
                "error": check.error,
                "tolerance": check.tolerance,
                "eps": eps,
            }
            # The slopes on either side of x disagree where f has a kink there.
            right, left = (check.plus - centre) / eps, (centre - check.minus) / eps
            if abs(right - left) > check.tolerance:
                result["status"] = "kink"
            else:
                result["status"] = "pass" if check.passed else "fail"
            if result["status"] == "pass":
                break
    except Exception as error:  # a probe must never stop the page from being written
        return {"status": "skip", "reason": f"could not run the op again: {type(error).__name__}: {error}"}
    return result


# ---------------------------------------------------------------------------
# The page's data: nodes, forward steps, backward steps
# ---------------------------------------------------------------------------


class _PageData:
    def __init__(
        self,
        graph: Graph,
        expanded: Drawing,
        collapsed: Drawing | None,
        tape: Tape,
        precision: int,
        rng: np.random.Generator,
    ) -> None:
        self.graph = graph
        self.expanded = expanded
        self.collapsed = collapsed
        self.tape = tape
        self.precision = precision
        self.rng = rng
        self.arrays = _ArrayTable()

    def value_id(self, tensor: Any) -> str:
        return self.expanded.value_ids[node_key(tensor)]

    def collapsed_id(self, key: tuple[str, int]) -> str | None:
        """The element that shows a value in the collapsed drawing: its own node, or its module's box."""
        if self.collapsed is None:
            return None
        module = self.collapsed.value_module[key]
        if module in self.collapsed.box_ids and key != self.graph.root_key:
            return "c-" + self.collapsed.box_ids[module]
        return "c-" + self.collapsed.value_ids[key]

    def collapsed_op(self, fn: Function) -> str | None:
        if self.collapsed is None:
            return None
        if fn.module is not None:
            return "c-" + self.collapsed.box_ids[fn.module]
        return "c-" + self.collapsed.op_ids[id(fn)]

    def build(self) -> dict[str, Any]:
        graph, tape = self.graph, self.tape
        nodes: dict[str, dict[str, Any]] = {}
        for key, tensor in graph.values.items():
            node_id = self.expanded.value_ids[key]
            kind = "root" if key == graph.root_key else ("intermediate" if tensor._ctx is not None else None)
            if kind is None:
                kind = "leaf" if tensor.requires_grad else "constant"
            fn = tensor._ctx
            nodes[node_id] = {
                "name": None if tensor.name is None else str(tensor.name),
                "label": self.expanded.value_names[key],
                "kind": kind,
                "shape": list(tensor.shape),
                "dtype": np.dtype(tensor.dtype).name,
                "value": self.arrays.add(tensor.data),
                "op": None if fn is None else fn.name,
                "settings": {} if fn is None else _plain_settings(fn.settings),
                "settingArrays": {} if fn is None else self.setting_arrays(fn),
                "opId": None if fn is None else self.expanded.op_ids[id(fn)],
                "opLabel": None if fn is None else self.expanded.op_names[id(fn)],
                "rule": "" if fn is None else str(type(fn).vjp_rule),
                # Each input's part of the rule, with the real names and settings.
                "ruleLines": [] if fn is None else self.rule_lines(fn, key),
                "rulePlain": getattr(type(fn).vjp_rule, "plain", "") if fn is not None else "",
                "module": self.expanded.value_module[key],
                "collapsedId": self.collapsed_id(key),
                # The op's inputs and its wires, in and out (for the forward steps).
                "inputs": [] if fn is None else [self.expanded.value_ids[k] for k in graph.op_inputs[id(fn)]],
                "edges": [] if fn is None else self.forward_edges(fn, node_id),
                "collapsedEdges": [] if fn is None else self.collapsed_forward_edges(fn, key),
                "check": None,
                "grad": None,
            }
        # The gradient backward left in .grad (a leaf's, or a tensor's that retains it).
        for tape_node in tape.nodes.values():
            grad = tape_node.tensor.grad
            if grad is not None:
                nodes[self.value_id(tape_node.tensor)]["grad"] = self.arrays.add(grad.data)
        for visit in tape.visits:
            fn = visit.node.function
            if fn is not None:
                inputs = [i.value if isinstance(i, TapeNode) else i for i in visit.node.inputs]
                needs = [isinstance(i, TapeNode) for i in visit.node.inputs]
                with quiet_region():  # an op run again on inf or nan values: no numpy warnings
                    nodes[self.value_id(visit.node.tensor)]["check"] = probe_vjp(fn, inputs, needs, self.rng)

        forward = [[self.expanded.value_ids[key] for key, t in graph.values.items() if t._ctx is None]]
        for tape_node in tape.order:
            if tape_node.function is not None:
                forward.append([self.value_id(tape_node.tensor)])
        backward = [self.backward_step(visit) for visit in tape.visits]
        assert tape.root is not None, "a recorded pass has a root"
        return {
            "root": self.value_id(tape.root.tensor),
            "rootName": self.root_name(),
            "seed": self.arrays.add(tape.seed),
            "nodes": nodes,
            "forward": forward,
            "backward": backward,
            "arrays": self.arrays.entries,
        }

    def setting_arrays(self, fn: Function) -> dict[str, int]:
        """The arrays an op's explainer reads besides its inputs, output and
        upstream gradient (explain.js), each up to FULL_ELEMENTS elements:
        where's condition, batch norm's inv_std (1/std of each channel), the
        winning tap of each max-pool window (in a graph of gradients), and for
        indexing and its VJP (ScatterAdd) `sources`, the flat cell of the
        indexed array that each picked cell is: positions 0, 1, 2, ... indexed
        with the op's own index."""
        found: dict[str, np.ndarray] = {}
        for name in _SETTING_ARRAYS.get(fn.name, ()):
            value = fn.settings.get(name)
            if isinstance(value, np.ndarray):
                found[name] = value
        if fn.name in ("GetItem", "ScatterAdd"):
            shape = fn.parents[0].shape if fn.name == "GetItem" else fn.settings["shape"]
            if math.prod(shape) <= FULL_ELEMENTS:
                positions = np.arange(math.prod(shape), dtype=np.float64).reshape(shape)
                found["sources"] = positions[fn.settings["index"]]
        return {name: self.arrays.add(value) for name, value in found.items() if value.size <= FULL_ELEMENTS}

    def collapsed_wires(self, pairs: list[tuple[str | None, str | None]]) -> list[str]:
        """The wires of the collapsed drawing between these (tail, head) elements.

        A wire inside a module box is not drawn there (both ends are the box),
        and two wires into the same box are one: each drawn wire is listed once.
        """
        if self.collapsed is None:
            return []
        drawn = {attrs["id"] for _tail, _head, attrs in self.collapsed.edges}
        wires: list[str] = []
        for tail, head in pairs:
            if tail is None or head is None or tail == head:
                continue
            wire = f"{tail}->{head}"  # "c-v1->c-op0": the page's id, with the prefix on both ends
            if f"{tail[2:]}->{head[2:]}" in drawn and wire not in wires:
                wires.append(wire)
        return wires

    def rule_lines(self, fn: Function, key: tuple[str, int]) -> list[str]:
        """The op's rule, one line per input, with the names of the page and the op's settings."""
        rule = type(fn).vjp_rule
        inputs = self.graph.op_inputs[id(fn)]
        if not isinstance(rule, VjpRule):  # a plain string: the same text for every input
            return wire_rules(fn, len(inputs))
        names = {k: f"({name})" if " " in name else name for k, name in self.expanded.value_names.items()}
        return rule.fill(self.root_name(), [names[k] for k in inputs], names[key], fn.settings)

    def root_name(self) -> str:
        """The loss's name in ∂loss/∂x: its own name, or L."""
        root = self.graph.values[self.graph.root_key]
        return str(root.name) if root.name else "L"

    def collapsed_forward_edges(self, fn: Function, key: tuple[str, int]) -> list[str]:
        """The wires of the collapsed drawing that a forward step lights up."""
        target = self.collapsed_op(fn)
        pairs = [(target, self.collapsed_id(key))]
        pairs += [(self.collapsed_id(k), target) for k in self.graph.op_inputs[id(fn)]]
        return self.collapsed_wires(pairs)

    def forward_edges(self, fn: Function, node_id: str) -> list[str]:
        op_id = self.expanded.op_ids[id(fn)]
        edges = [f"{op_id}->{node_id}"]
        seen: dict[str, int] = {}
        for key in self.graph.op_inputs[id(fn)]:
            source = self.expanded.value_ids[key]
            seen[source] = seen.get(source, 0) + 1
            edges.append(f"{source}->{op_id}" + (f"#{seen[source]}" if seen[source] > 1 else ""))
        return edges

    def backward_step(self, visit: Visit) -> dict[str, Any]:
        node_id = self.value_id(visit.node.tensor)
        step: dict[str, Any] = {"node": node_id, "grad": self.arrays.add(visit.grad), "contributions": []}
        fn = visit.node.function
        if fn is None:
            return step
        op_id = self.expanded.op_ids[id(fn)]
        step["op"] = op_id
        step["edges"] = [f"{op_id}->{node_id}"]
        target = self.collapsed_op(fn)
        collapsed_pairs: list[tuple[str | None, str | None]] = []
        if target is not None:
            collapsed_pairs.append((target, self.collapsed_id(node_key(visit.node.tensor))))
        step["collapsedOp"] = target
        inputs = visit.node.inputs
        output = visit.node.value
        try:  # a label only: a custom op that cannot run again shows no numbers
            local = local_derivatives(
                fn,
                [i.value if isinstance(i, TapeNode) else i for i in inputs],
                [isinstance(i, TapeNode) for i in inputs],  # the constants need no gradient
                output.shape,
                output.dtype,
            )
        except Exception:
            local = None
        seen: dict[str, int] = {}
        edge_of_position: list[str] = []
        collapsed_of_position: list[tuple[str | None, str | None]] = []
        for i, parent in enumerate(inputs):
            key = node_key(parent.tensor) if isinstance(parent, TapeNode) else node_key(fn.parents[i], fn, i)
            source = self.expanded.value_ids[key]
            seen[source] = seen.get(source, 0) + 1
            edge = f"{source}->{op_id}" + (f"#{seen[source]}" if seen[source] > 1 else "")
            edge_of_position.append(edge)
            if self.collapsed is not None:
                collapsed_of_position.append((self.collapsed_id(key), target))
        for c in visit.contributions:
            step["edges"].append(edge_of_position[c.position])
            if self.collapsed is not None:
                collapsed_pairs.append(collapsed_of_position[c.position])
            step["contributions"].append(
                {
                    "to": self.value_id(c.target.tensor),
                    "position": c.position,
                    "returned": self.arrays.add(c.returned),
                    "added": self.arrays.add(c.added),
                    "before": self.arrays.add(c.before),
                    "after": self.arrays.add(c.after),
                    "k": c.k,
                    "n": c.n,
                    "local": None if local is None else local[c.position],
                }
            )
        step["collapsedEdges"] = self.collapsed_wires(collapsed_pairs)
        return step


# ---------------------------------------------------------------------------
# The HTML file
# ---------------------------------------------------------------------------


def _html_text(text: str) -> str:
    """Text for the page's HTML: escaped, and each lone surrogate (half of a
    UTF-16 pair, which UTF-8 cannot hold) replaced by U+FFFD."""
    return html.escape(re.sub("[\ud800-\udfff]", "\ufffd", text))


def _plain_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings the page's explainers read (stride, padding, axis, ...):
    numbers, flags and tuples of them; arrays and other objects are left out."""

    def plain(value: Any) -> bool:
        if isinstance(value, (tuple, list)):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (bool, int, float, str))

    out: dict[str, Any] = {}
    for name, value in settings.items():
        if isinstance(value, np.integer):
            value = int(value)
        if plain(value):
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def _page(data: dict[str, Any], svg: str, collapsed_svg: str) -> str:
    parts = {
        "{{policy}}": content_security_policy(data_images=True),
        "{{title}}": _html_text(data["title"]),
        "{{style}}": page_asset("stepper.css"),
        # The explainers first: stepper.js uses them.
        "{{script}}": page_script("explain.js", "stepper.js"),
        "{{tape}}": json_for_script(data),
        "{{svg}}": svg,
        "{{collapsed_svg}}": collapsed_svg,
    }
    return fill_page("stepper.html", parts)
