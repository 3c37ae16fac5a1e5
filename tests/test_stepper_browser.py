"""The step-through page in a real browser: Debian's chromium driven by Playwright.

One browser serves the whole module. Without chromium or Playwright these
tests are skipped, except in CI (CI=true), where a missing browser fails them:
`scripts/install-system-packages.sh` installs chromium, the dev extra Playwright.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn as tg
import tinygrad_cnn.functional as F
from tinygrad_cnn.backward import topological_order
from tinygrad_cnn.models import build_model
from tinygrad_cnn.viz import chain_rule_example, save_stepper, tiny_cnn_example

CHROMIUM = "/usr/bin/chromium"
# Playwright never downloads a browser here: it drives Debian's chromium.
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]


class WrongSquare(tg.Function):
    """x ** 2 with a deliberately wrong VJP (3x instead of 2x)."""

    def forward(self, x):
        return x * x

    def backward(self, g):
        (x,) = self.parents
        return (g * x * 3.0,)


# ---------------------------------------------------------------------------
# The graphs the pages are made of: name -> function returning the root,
# before backward. (One line adds a graph to every parametrised test.)
# ---------------------------------------------------------------------------


def _fan_out() -> tg.Tensor:
    a = tg.Tensor([1.0, 2.0, -0.5], requires_grad=True, name="a")
    w = tg.Tensor([0.5, -1.0, 2.0], requires_grad=True, name="w")
    return ((a * a + a) * a * w).sum()


def _lenet_step() -> tg.Tensor:
    model = build_model("lenet")
    images = tg.randn(2, 1, 28, 28)
    images.name = "images"
    return F.cross_entropy(model(images), tg.Tensor(np.array([3, 7])))


class _ResidualBlock(tg.nn.Module):
    """conv-bn-relu-conv-bn plus the block's input, then relu: a graph with a skip wire."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = tg.nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.bn1 = tg.nn.BatchNorm2d(channels)
        self.conv2 = tg.nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = tg.nn.BatchNorm2d(channels)

    def forward(self, x: tg.Tensor) -> tg.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + x)


def _residual_block() -> tg.Tensor:
    tg.manual_seed(0)
    block = _ResidualBlock(2)
    images = tg.randn(2, 2, 5, 5)
    images.name = "images"
    return block(images).mean()


def _wrong_function() -> tg.Tensor:
    x = tg.Tensor([0.5, -1.5, 2.0], requires_grad=True, name="x")
    y = WrongSquare.apply(x)
    y.name = "wrong"
    return (y * x + x.exp()).sum()


def _strided_conv() -> tg.Tensor:
    """A stride-2, padding-1 convolution of a 3-channel image, float32 as in training."""
    tg.manual_seed(4)
    x = tg.randn(2, 3, 5, 5, requires_grad=True)
    x.name = "images"
    w = tg.randn(4, 3, 3, 3, requires_grad=True)
    w.name = "W"
    b = tg.randn(4, requires_grad=True)
    b.name = "b"
    y = F.conv2d(x, w, b, stride=2, padding=1)
    y.name = "conv_out"
    return (F.relu(y) * tg.randn(*y.shape)).sum()


GRAPH_BUILDERS: dict[str, Callable[[], tg.Tensor]] = {
    "chain-rule": lambda: chain_rule_example(run_backward=False)["f"],
    "fan-out": _fan_out,
    "lenet": _lenet_step,
    "residual-block": _residual_block,
    "wrong-function": _wrong_function,
    "tiny-cnn": lambda: tiny_cnn_example(run_backward=False)["loss"],
    "strided-conv": _strided_conv,
}


# ---------------------------------------------------------------------------
# The browser and the pages
# ---------------------------------------------------------------------------


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (in CI the browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        _missing(f"Debian's chromium is not installed at {CHROMIUM}: run scripts/install-system-packages.sh")
    if shutil.which("dot") is None:
        _missing("Graphviz `dot` is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


class OpenPage:
    """A page opened from disk, with everything it logged and requested."""

    def __init__(self, browser: object, path: Path) -> None:
        self.path = path
        self.page = browser.new_page(viewport={"width": 1400, "height": 850})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.responses: list[str] = []
        self.page.on("response", lambda r: self.responses.append(r.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_function("window.stepper !== undefined")

    def js(self, expression: str) -> object:
        return self.page.evaluate(expression)

    def state(self) -> dict:
        return self.js("window.stepper.state()")

    def node_id(self, name: str) -> str:
        return next(i for i, n in self.state()["nodes"].items() if n["name"] == name)

    def go_to_backward_visit(self, name: str) -> None:
        """Step to the backward step that visits the tensor called `name`."""
        node = self.node_id(name)
        for k in range(self.js("window.stepper.steps")):
            self.js(f"window.stepper.go({k})")
            state = self.state()
            if state["phase"] == "backward" and state["current"] == node:
                return
        raise AssertionError(f"no backward step visits {name}")


@pytest.fixture
def open_page(browser, tmp_path) -> Iterator[Callable[..., tuple[OpenPage, tg.Tensor]]]:
    opened: list[OpenPage] = []

    def make(builder: str, **options: object) -> tuple[OpenPage, tg.Tensor]:
        root = GRAPH_BUILDERS[builder]()
        path = Path(save_stepper(root, tmp_path / f"{builder}.html", **options))
        opened.append(OpenPage(browser, path))
        return opened[-1], root

    yield make
    for page in opened:
        page.page.close()


def _leaves(root: tg.Tensor) -> list[tg.Tensor]:
    """The tensors backward leaves a .grad on (the graph is released by then: walk the stubs)."""
    leaves, seen, stack = [], set(), [root]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t._ctx is None:
            if t.requires_grad:
                leaves.append(t)
        else:
            stack.extend(t._ctx.parents)
    return leaves


# ---------------------------------------------------------------------------
# The chain-rule example: every step against the engine
# ---------------------------------------------------------------------------


def test_chain_rule_steps_through_the_engines_visit_order(open_page):
    ex = chain_rule_example(run_backward=False)
    engine_order = [t.name for t in reversed(topological_order([ex["f"]]))]
    parents = {t.name: [p.name for p in t._ctx.parents] if t._ctx else [] for t in topological_order([ex["f"]])}
    ex["f"].backward()  # the plain backward's gradients, to compare with
    plain = {name: float(ex[name].grad.data) for name in ("x", "y", "z")} | {"q": -4.0, "f": 1.0}

    page, _ = open_page("chain-rule")
    steps = page.js("window.stepper.steps")
    forward_steps = steps - len(engine_order)
    page.js(f"window.stepper.go({forward_steps - 1})")
    assert page.state()["phase"] == "forward"
    visited, reached = [], set()
    for name in engine_order:
        page.js("window.stepper.next()")
        state = page.state()
        assert state["phase"] == "backward"
        assert state["nodes"][state["current"]]["name"] == name
        visited.append(name)
        reached |= {name, *parents[name]}
        shown = {n["name"]: n["grad"] for n in state["nodes"].values()}
        # Reached nodes show the engine's gradient, the others none yet.
        assert shown == {n: (plain[n] if n in reached else None) for n in shown}
    assert visited == engine_order
    assert state["step"] == steps - 1
    assert page.errors == [] and page.requests == [page.path.as_uri()]


def test_chain_rule_panel_shows_the_chain_rule_in_numbers(open_page):
    page, _ = open_page("chain-rule")
    page.go_to_backward_visit("q")
    panel = page.page.inner_text("#step-panel")
    assert "∂f/∂x = ∂f/∂q · ∂q/∂x = -4 · 1 = -4" in panel
    assert "∂f/∂y = ∂f/∂q · ∂q/∂y = -4 · 1 = -4" in panel
    # Add's declared rule with the real names, one line per input, and in words.
    assert "∂f/∂x = ∂f/∂q\n∂f/∂y = ∂f/∂q" in panel
    assert "passes the upstream gradient unchanged" in panel
    # At the root: ∂f/∂f = 1, and the root's op says its local derivative without repeating itself.
    page.go_to_backward_visit("f")
    panel = page.page.inner_text("#step-panel")
    assert "∂f/∂f = 1" in panel
    assert "∂f/∂q = ∂f/∂f · ∂f/∂q (local) = 1 · -4 = -4" in panel


def test_clicking_x_shows_its_value_and_gradient(open_page):
    page, _ = open_page("chain-rule")
    page.js("window.stepper.go(window.stepper.steps - 1)")
    page.page.click(f"#{page.node_id('x')}")
    details = page.page.inner_text("#details")
    assert "value" in details and "-2" in details
    assert "∂f/∂x" in details and "-4" in details
    # Before backward reached it, the same panel says there is no gradient yet.
    page.js("window.stepper.go(0)")
    assert "none yet" in page.page.inner_text("#details")


def test_stepping_back_undoes_and_the_controls_move(open_page):
    page, _ = open_page("chain-rule")
    steps = page.js("window.stepper.steps")
    states = []
    for k in range(steps):
        page.js(f"window.stepper.go({k})")
        states.append(page.state())
    for k in reversed(range(steps - 1)):
        page.js("window.stepper.prev()")
        assert page.state() == states[k]
    page.page.keyboard.press("ArrowRight")
    assert page.state()["step"] == 1
    page.page.click("#next")
    assert page.state()["step"] == 2 and page.page.inner_text("#counter") == f"step 3 of {steps}"
    page.page.keyboard.press("End")
    assert page.state()["step"] == steps - 1
    page.page.click("#reset")
    assert page.state()["step"] == 0 and page.state()["current"] is None
    # Forward phase: at step 0 only the given tensors are drawn as computed.
    assert page.js(f"document.getElementById('{page.node_id('q')}').classList.contains('pending')")
    assert not page.js(f"document.getElementById('{page.node_id('x')}').classList.contains('pending')")


def test_fan_out_shows_contribution_k_of_n(open_page):
    page, _ = open_page("fan-out")
    steps = page.js("window.stepper.steps")
    texts = []
    for k in range(steps):
        page.js(f"window.stepper.go({k})")
        texts.append(page.page.inner_text("#step-panel"))
    joined = "\n".join(texts)
    for k in (1, 2, 3, 4):
        assert f"contribution {k} of 4 to a" in joined


# ---------------------------------------------------------------------------
# The wires: each step lights up the wires its gradient flows along, in both views
# ---------------------------------------------------------------------------


def _drawn_wires(page: OpenPage, view: str) -> set[str]:
    return set(page.js(f"Array.from(document.querySelectorAll('#svg-{view} g.edge'), (e) => e.id)"))


@pytest.mark.parametrize("builder", ["tiny-cnn", "lenet", "residual-block"])
def test_gradient_wires_are_highlighted_in_both_views(open_page, builder):
    page, _ = open_page(builder)
    tape = page.js("JSON.parse(document.getElementById('tape').textContent)")
    nodes = tape["nodes"]
    forward_steps = len(tape["forward"])
    drawn = {view: _drawn_wires(page, view) for view in ("expanded", "collapsed")}
    assert drawn["collapsed"], "the graph has modules, so it has a collapsed drawing"
    lit = {"expanded": 0, "collapsed": 0}
    for view in ("expanded", "collapsed"):
        page.js(f"window.stepper.setView('{view}')")
        # Every backward step's wires, in one call (state() of a LeNet page is large).
        wires_of_step = page.js(
            f"""Array.from({{length: {len(tape["backward"])}}}, (_, j) => {{
                window.stepper.go({forward_steps} + j);
                return window.stepper.state().wires;
            }})"""
        )
        for step, wires in zip(tape["backward"], wires_of_step):
            assert set(wires) <= drawn[view] and len(set(wires)) == len(wires)
            if "op" not in step:  # a leaf: no op, no wire
                assert wires == []
                continue
            # The step's wires, from the op to its result and from each input that
            # receives gradient to the op; in the collapsed view, as the boxes
            # they join (a wire inside one box is not drawn).
            ends = [(step["op"], step["node"])] + [(c["to"], step["op"]) for c in step["contributions"]]
            if view == "expanded":
                expected = len(ends)
            else:
                element = {**{i: n["collapsedId"] for i, n in nodes.items()}, step["op"]: step["collapsedOp"]}
                expected = len({(element[a], element[b]) for a, b in ends if element[a] != element[b]})
            assert len(wires) == expected, (view, step["node"])
            lit[view] += len(wires)
    assert lit["expanded"] > 0 and lit["collapsed"] > 0, lit
    # Forward steps light up their wires in the collapsed view too.
    page.js("window.stepper.go(1)")
    assert page.state()["forwardWires"] and set(page.state()["forwardWires"]) <= drawn["collapsed"]
    assert page.errors == []


# ---------------------------------------------------------------------------
# Every graph: loads cleanly, steps to the end, ends with the engine's .grad
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("builder", list(GRAPH_BUILDERS))
def test_page_ends_with_every_leafs_grad(open_page, builder):
    page, root = open_page(builder)
    steps = page.js("window.stepper.steps")
    for _ in range(steps + 2):  # next() past the end stays at the end
        page.js("window.stepper.next()")
    state = page.state()
    assert state["step"] == steps - 1 and state["phase"] == "backward"
    leaves = _leaves(root)
    assert leaves
    for leaf in leaves:
        node = next(n for n in state["nodes"].values() if n["name"] == leaf.name and n["shape"] == list(leaf.shape))
        grad = leaf.grad.data
        if isinstance(node["grad"], dict):  # a large tensor: the page shows its statistics
            summary = node["grad"]["summary"]
            g = grad.astype(np.float64)
            expected = {"mean": g.mean(), "std": g.std(), "min": g.min(), "max": g.max()}
            expected["norm"] = np.sqrt((g * g).sum())
            for key, value in expected.items():
                assert summary[key] == pytest.approx(value, rel=1e-9, abs=1e-15), (leaf.name, key)
        else:
            assert np.array_equal(np.asarray(node["grad"], dtype=grad.dtype), grad), leaf.name
    assert page.errors == [] and page.requests == [page.path.as_uri()]


def test_wrong_function_fails_on_its_node_only(open_page):
    page, _ = open_page("wrong-function")
    checks = {n["label"]: n["check"] for n in page.state()["nodes"].values() if n["check"] is not None}
    assert checks.pop("wrong") == "fail"
    assert set(checks.values()) == {"pass"}
    marked = page.js("Array.from(document.querySelectorAll('#svg-expanded g.check-fail')).map(g => g.id)")
    assert marked == [page.node_id("wrong")]
    page.page.click(f"#{page.node_id('wrong')}")
    assert "FAIL" in page.page.inner_text("#details")


def test_lenet_modules_collapse_and_expand(open_page):
    page, _ = open_page("lenet", collapse_modules=True)
    assert page.js("document.getElementById('svg-collapsed').hidden") is False
    assert page.js("document.getElementById('svg-expanded').hidden") is True
    page.page.click("#collapse")
    assert page.js("document.getElementById('svg-expanded').hidden") is False
    # A cluster of the expanded drawing folds into one box, and opens again.
    cluster = "#cluster_conv1"
    weight = page.node_id("conv1.weight")
    page.page.click(cluster + " > text")
    assert page.js(f"getComputedStyle(document.getElementById('{weight}')).display") == "none"
    page.page.click(cluster + " > text")
    assert page.js(f"getComputedStyle(document.getElementById('{weight}')).display") != "none"
    assert page.errors == []


def test_parameter_shows_heatmaps_and_the_sgd_preview(open_page):
    page, _ = open_page("lenet", collapse_modules=False)
    page.js("window.stepper.go(window.stepper.steps - 1)")
    page.page.click(f"#{page.node_id('conv1.weight')}")
    # Every one of the 32 filters: value and gradient as maps, and W - lr dW as heatmaps.
    assert page.js("document.querySelectorAll('#details .grid .map').length") == 2 * 32
    assert page.js("document.querySelectorAll('#details canvas').length") >= 32
    details = page.page.inner_text("#details")
    assert "after one SGD step" in details and "lr =" in details
    before = page.page.inner_text("#details .stats >> nth=-1")
    page.page.fill("#details input[type=number]", "10")
    assert page.page.inner_text("#details .stats >> nth=-1") != before
    # The step is shown in the parameter's dtype, as numpy would compute it.
    preview = page.page.inner_text("#details").split("after one SGD step")[1]
    assert "float32" in preview and "float64" not in preview


def test_the_ops_declared_rule_is_shown_at_its_step(open_page):
    WrongSquare.vjp_rule = "dL/dx = g·3x (wrong on purpose)"  # a plain string: shown as it is
    try:
        page, _ = open_page("wrong-function")
    finally:
        del WrongSquare.vjp_rule
    page.go_to_backward_visit("wrong")
    assert page.js("document.querySelector('#step-panel .rule').textContent") == "dL/dx = g·3x (wrong on purpose)"
    # Nothing is written over the drawing: the rule is in the panel only.
    assert page.js("document.querySelectorAll('#drawing text.rule-mark').length") == 0


def test_a_convolutions_rule_names_the_real_tensors_and_settings(open_page):
    page, _ = open_page("strided-conv", collapse_modules=False)
    page.go_to_backward_visit("conv_out")
    lines = page.js("document.querySelector('#step-panel .rule').textContent").split("\n")
    assert lines == [
        "∂L/∂images = ∂L/∂conv_out ∗ W (full convolution), stride 2, padding 1",
        "∂L/∂W = images ⋆ ∂L/∂conv_out (valid cross-correlation), stride 2, padding 1",
        "∂L/∂b = Σ ∂L/∂conv_out over N, H, W, stride 2, padding 1",
    ]
    page.js("window.stepper.next()")  # the next step shows its own rule, not the convolution's
    assert "⋆" not in page.page.inner_text("#step-panel")


def test_repeated_ops_are_numbered_and_results_named_by_their_op(open_page):
    page, _ = open_page("fan-out")
    labels = sorted(n["label"] for n in page.state()["nodes"].values())
    # ((a * a + a) * a * w).sum(): three muls, numbered in the order the forward pass ran them.
    assert labels == ["a", "output of add", "output of mul #1", "output of mul #2", "output of mul #3",
                      "output of sum", "w"]
    op_texts = page.js("Array.from(document.querySelectorAll('#svg-expanded g.node > text'), (t) => t.textContent)")
    assert {"mul #1", "mul #2", "mul #3"} <= set(op_texts)
    tiny, _ = open_page("tiny-cnn")
    assert "target" in {n["label"] for n in tiny.state()["nodes"].values()}


def test_the_security_policy_blocks_any_external_load(open_page):
    page, _ = open_page("chain-rule")
    blocked = page.js(
        """new Promise((resolve) => {
            document.addEventListener("securitypolicyviolation", (e) => resolve(e.violatedDirective));
            const img = document.createElement("img");
            img.src = "https://example.com/tracker.png";
            document.body.appendChild(img);
        })"""
    )
    assert blocked.startswith("img-src")
    page.page.wait_for_timeout(200)
    # The browser names the attempt, but nothing came back: the load was blocked, not fetched.
    assert page.responses == [page.path.as_uri()]


# ---------------------------------------------------------------------------
# Layout: nothing written over the drawing; a narrow window keeps the controls
# ---------------------------------------------------------------------------

# Each text the page adds to the drawing (values, gradients, check marks) and
# every box it could cover: the other nodes' shapes, the wires' labels, the other marks.
OVERLAPS = """(view) => {
  const svg = document.querySelector(`#svg-${view} svg`);
  const box = (e) => { const b = e.getBoundingClientRect(); return { x: b.left, y: b.top, r: b.right, b: b.bottom }; };
  const hit = (a, b) => a.x < b.r - 0.5 && b.x < a.r - 0.5 && a.y < b.b - 0.5 && b.y < a.b - 0.5;
  const marks = Array.from(svg.querySelectorAll("text.value-mark, text.grad-mark, text.check-mark"))
    .filter((t) => t.textContent !== "");
  const shapeOf = (g) => box(g.querySelector("polygon, ellipse, path"));
  const shapes = Array.from(svg.querySelectorAll("g.node")).map((g) => [g, shapeOf(g)]);
  const labels = Array.from(svg.querySelectorAll("g.edge > text")).map((t) => [t, box(t)]);
  const found = [];
  marks.forEach((m, i) => {
    const own = m.closest("g.node"), b = box(m);
    for (const [g, s] of shapes) if (g !== own && hit(b, s)) found.push([m.textContent, "node " + g.id]);
    for (const [t, s] of labels) if (hit(b, s)) found.push([m.textContent, "wire label " + t.textContent]);
    marks.slice(i + 1).forEach((o) => { if (hit(b, box(o))) found.push([m.textContent, "mark " + o.textContent]); });
  });
  return { marks: marks.length, found };
}"""


@pytest.mark.parametrize("builder", ["chain-rule", "tiny-cnn"])
def test_no_text_is_written_over_the_drawing(open_page, builder):
    page, _ = open_page(builder)
    assert page.state()["view"] == "expanded"  # a small model opens expanded
    for k in range(page.js("window.stepper.steps")):  # every step, the marks as they change
        page.js(f"window.stepper.go({k})")
        result = page.js(f"({OVERLAPS})('expanded')")
        assert result["found"] == [], (k, result["found"])
    assert result["marks"] >= 8  # at the end every value and gradient is written


def test_an_800_pixel_window_keeps_the_title_and_controls_in_sight(browser, tmp_path):
    root = GRAPH_BUILDERS["tiny-cnn"]()
    path = Path(save_stepper(root, tmp_path / "narrow.html"))
    page = browser.new_page(viewport={"width": 800, "height": 700})
    try:
        page.goto(path.as_uri())
        page.wait_for_function("window.stepper !== undefined")
        page.evaluate("window.stepper.go(window.stepper.steps - 4)")  # a step with a long panel
        page.mouse.wheel(0, 3000)
        page.evaluate("window.scrollTo(0, 5000)")
        for selector in ("h1", "#prev", "#play", "#next", "#slider", "#counter"):
            b = page.locator(selector).bounding_box()
            assert b is not None and b["y"] >= 0 and b["y"] + b["height"] <= 700, selector
        drawing, side = page.locator("#drawing").bounding_box(), page.locator("#side").bounding_box()
        assert side["y"] >= drawing["y"] + drawing["height"] - 1  # the panel is under the drawing
        assert drawing["width"] >= 780 and drawing["height"] >= 200
        assert page.evaluate("document.scrollingElement.scrollHeight") <= 700  # the page itself does not scroll
    finally:
        page.close()


def test_the_security_policy_forbids_forms_and_a_base_address(open_page):
    page, _ = open_page("chain-rule")
    blocked = page.js(
        """new Promise((resolve) => {
            const seen = [];
            document.addEventListener("securitypolicyviolation", (e) => {
                seen.push(e.violatedDirective);
                if (seen.length === 2) resolve(seen.sort());
            });
            const base = document.createElement("base");
            base.href = "https://example.com/";
            document.head.appendChild(base);
            const form = document.createElement("form");
            form.action = "https://example.com/collect";
            form.method = "post";
            document.body.appendChild(form);
            form.submit();
        })"""
    )
    assert blocked == ["base-uri", "form-action"]
    page.page.wait_for_timeout(200)
    assert page.responses == [page.path.as_uri()]


def test_a_large_tensor_without_a_finite_value_can_be_clicked(browser, tmp_path):
    x = tg.Tensor(np.full((300, 300), np.nan), requires_grad=True, name="x")  # too large to embed in full
    y = tg.Tensor(np.full((70,), np.inf), requires_grad=True, name="y")  # embedded in full, no finite value
    root = (x * 2.0).sum() + (y * 3.0).sum()
    page = OpenPage(browser, Path(save_stepper(root, tmp_path / "nan.html")))
    try:
        page.js("window.stepper.go(window.stepper.steps - 1)")
        for name in ("x", "y"):
            page.page.click(f"#{page.node_id(name)}")
            assert "no finite value" in page.page.inner_text("#details")
        assert page.errors == []
    finally:
        page.page.close()


def test_the_jupyter_iframe_runs_the_page(browser, tmp_path):
    from tinygrad_cnn.viz import step_through

    stepper = step_through(GRAPH_BUILDERS["chain-rule"]())
    notebook = tmp_path / "notebook.html"
    notebook.write_text(f"<!DOCTYPE html><html><body>{stepper._repr_html_()}</body></html>", encoding="utf-8")
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(notebook.as_uri())
        frame = page.frames[1]
        frame.wait_for_function("window.stepper !== undefined")
        assert frame.evaluate("window.stepper.steps") == 8
        frame.evaluate("window.stepper.go(7)")
        assert frame.evaluate("window.stepper.state().phase") == "backward" and errors == []
    finally:
        page.close()


# ---------------------------------------------------------------------------
# "Where does this number come from?": every explained element adds up
# ---------------------------------------------------------------------------


def _leaf(rng: np.random.Generator, shape: tuple[int, ...], name: str) -> tg.Tensor:
    return tg.Tensor(rng.standard_normal(shape), requires_grad=True, name=name)


def _conv_cases() -> tg.Tensor:
    """Random convolutions in float64: stride, padding, dilation, groups, odd sizes, with and without bias."""
    rng = np.random.default_rng(1)
    x = _leaf(rng, (2, 4, 7, 6), "x")
    total = tg.Tensor(0.0)
    geometries = [
        dict(stride=1, padding=0, dilation=1, groups=1),
        dict(stride=2, padding=1, dilation=1, groups=1),
        dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=2),
        dict(stride=3, padding=2, dilation=2, groups=4),
    ]
    for k, geometry in enumerate(geometries):
        groups = geometry["groups"]
        w = _leaf(rng, (4, 4 // groups, 3, 2), f"W{k}")
        b = _leaf(rng, (4,), f"b{k}") if k % 2 == 0 else None
        y = F.conv2d(x, w, b, **geometry)
        total = total + (y * tg.Tensor(rng.standard_normal(y.shape))).sum()  # a random upstream gradient
    return total


def _pool_cases() -> tg.Tensor:
    rng = np.random.default_rng(2)
    x = _leaf(rng, (2, 2, 7, 7), "x")
    a = F.max_pool2d(x, 3, stride=2, padding=1)  # overlapping and padded windows
    b = F.max_pool2d(x, 2, stride=1)  # overlapping: a cell can win several windows
    c = F.avg_pool2d(x, 3, stride=2, padding=1)
    terms = [(t * tg.Tensor(rng.standard_normal(t.shape))).sum() for t in (a, b, c)]
    return terms[0] + terms[1] + terms[2]


def _linear_and_loss_cases() -> tg.Tensor:
    rng = np.random.default_rng(3)
    x = _leaf(rng, (3, 5), "x")
    w = _leaf(rng, (4, 5), "W")
    b = _leaf(rng, (4,), "b")
    m = _leaf(rng, (4, 6), "M")
    hidden = F.relu(F.linear(x, w, b))  # relu: the mask
    logits = hidden.matmul(m)
    loss = F.cross_entropy(logits, tg.Tensor(np.array([1, 0, 5])))
    scale = _leaf(rng, (1, 6), "scale")  # broadcast over the rows
    extra = (logits * scale + logits.exp() / 10 - logits.sigmoid()).reshape(2, 9).tanh().mean(axis=0).sum()
    # abs, leaky_relu, softplus, clip, transpose: the other elementwise ops and an axis permutation.
    shaped = logits.reshape(3, 2, 3).transpose(2, 0, 1)
    more = F.leaky_relu(shaped, 0.1).abs() + F.softplus(shaped) + shaped.clip(-0.5, 0.5)
    return loss + extra + (more * tg.Tensor(rng.standard_normal(more.shape))).sum()


def _random_sum(rng: np.random.Generator, *tensors: tg.Tensor) -> tg.Tensor:
    """Σ of each tensor times a random constant: a random upstream gradient for each."""
    total = tg.Tensor(0.0)
    for t in tensors:
        total = total + (t * tg.Tensor(rng.standard_normal(t.shape))).sum()
    return total


def _elementwise_and_shape_cases() -> tg.Tensor:
    """pow, maximum, minimum, where, binary cross-entropy (with broadcasting); pad,
    concatenate, stack, indexing, max and min over an axis, mean, cast, clone."""
    rng = np.random.default_rng(5)
    a = tg.Tensor(rng.uniform(0.5, 2.0, (3, 4)), requires_grad=True, name="a")  # positive: a real power
    b = _leaf(rng, (1, 4), "b")  # broadcast over the rows
    c = _leaf(rng, (3, 1), "c")
    powered = a ** b  # both the base and the exponent get a gradient
    squared = c ** 2.0
    logged = a.log()
    ties = tg.Tensor(np.array([[c.data[0, 0]], [-1.0], [2.0]]))  # a tie in row 0: half each
    biggest = tg.maximum(c, _leaf(rng, (3, 4), "m")) + tg.minimum(c, ties)
    picked = tg.where(rng.standard_normal((3, 4)) > 0, a, c)
    probability = tg.Tensor(rng.uniform(0.1, 0.9, (2, 3)), requires_grad=True, name="p")
    target = tg.Tensor(rng.uniform(0.0, 1.0, (2, 3)), requires_grad=True, name="y")
    bce = F.binary_cross_entropy(probability, target)
    x = _leaf(rng, (2, 3, 5), "x")
    padded = tg.pad(x, ((0, 1), (2, 0), (1, 3)))
    joined = tg.concatenate([x, x * 2, c.reshape(1, 3, 1).broadcast_to((1, 3, 5))], axis=0)
    stacked = tg.stack([a, b.broadcast_to((3, 4))], axis=1)
    index = np.array([0, 2, 2, 1])  # a repeated index: the cell gets both
    sliced = [x[1, ::2, 1:4], x[:, None, -1], x[np.array([1, 0, 1])], x[:, index, 1:], x[x.data > 0.3], x[..., 1]]
    reduced = [x.max(axis=1), x.min(axis=(0, 2), keepdims=True), x.max(), x.mean(axis=2)]
    x32 = x.astype(np.float32).astype(np.float64)  # a cast and back: the gradient is only cast
    copied = tg.clone(x)
    elementwise = _random_sum(rng, powered, squared, logged, biggest, picked) + bce
    return elementwise + _random_sum(rng, padded, joined, stacked, *sliced, *reduced, x32, copied)


def _matmul_and_transposed_conv_cases() -> tg.Tensor:
    """Batched matmul with broadcast batch axes, vectors; transposed convolutions."""
    rng = np.random.default_rng(6)
    batched = _leaf(rng, (2, 1, 3, 4), "A") @ _leaf(rng, (5, 4, 2), "B")
    v, m = _leaf(rng, (4,), "v"), _leaf(rng, (4, 3), "M")
    vectors = [v @ m, m.transpose(1, 0) @ v, v @ v]
    y = _leaf(rng, (2, 4, 3, 4), "y")
    outputs = []
    geometries = [
        dict(stride=1, padding=0, dilation=1, groups=1, output_padding=0),
        dict(stride=2, padding=1, dilation=1, groups=2, output_padding=1),
        dict(stride=(3, 2), padding=(2, 0), dilation=(1, 2), groups=1, output_padding=(1, 0)),
    ]
    for k, geometry in enumerate(geometries):
        groups = geometry["groups"]
        w = _leaf(rng, (4, 6 // groups, 3, 2), f"W{k}")
        bias = _leaf(rng, (6,), f"bias{k}") if k == 1 else None
        outputs.append(F.conv_transpose2d(y, w, bias, **geometry))
    return _random_sum(rng, batched, *vectors, *outputs)


def _batch_norm_cases() -> tg.Tensor:
    """Batch norm in training mode: (N, C, H, W) and (N, C), with gamma and beta."""
    rng = np.random.default_rng(7)
    images = _leaf(rng, (3, 2, 3, 2), "images")
    gamma, beta = _leaf(rng, (2,), "gamma"), _leaf(rng, (2,), "beta")
    features = _leaf(rng, (5, 3), "features")
    maps = F.batch_norm(images, None, None, gamma, beta, training=True)
    rows = F.batch_norm(features, tg.Tensor(np.zeros(3)), tg.Tensor(np.ones(3)), training=True)
    return _random_sum(rng, maps, rows)


def _second_order_cases() -> tg.Tensor:
    """Gradients recorded with create_graph=True, twice: relu's and max's masks tied
    to x (DependsOn), the filter gradient and the pooling VJPs as ops of their own."""
    rng = np.random.default_rng(8)
    x = _leaf(rng, (2, 5), "x")
    picked = x[:, np.array([0, 3, 3])]  # its VJP, ScatterAdd, is recorded: the gradient 2·picked depends on x
    inner = (F.relu(x) * x).sum() + x.max(axis=1).sum() + (picked * picked).sum()
    (dx,) = tg.grad(inner, [x], create_graph=True)
    images, w = _leaf(rng, (1, 2, 5, 5), "images"), _leaf(rng, (2, 1, 2, 2), "W")
    pooled = [F.max_pool2d(images, 3, stride=2, padding=1), F.avg_pool2d(images, 3, stride=2, padding=1)]
    convolved = F.conv2d(images, w, stride=2, padding=1, groups=2)
    squares = (convolved * convolved).sum() + (pooled[0] * pooled[0]).sum() + (pooled[1] * pooled[1]).sum()
    d_images, d_w = tg.grad(squares, [images, w], create_graph=True)
    # (d_images squared: the gradient reaching the pooling VJPs depends on the images, so their VJPs are recorded too.)
    first = _random_sum(rng, d_images, d_w) + (d_images * d_images).sum()
    second = _random_sum(rng, *tg.grad(first, [images, w], create_graph=True))
    return _random_sum(rng, dx) + first + second


EXPLAIN_CASES: dict[str, Callable[[], tg.Tensor]] = {
    "conv": _conv_cases,
    "pool": _pool_cases,
    "linear-and-loss": _linear_and_loss_cases,
    "elementwise-and-shape": _elementwise_and_shape_cases,
    "matmul-and-transposed-conv": _matmul_and_transposed_conv_cases,
    "batch-norm": _batch_norm_cases,
    "second-order": _second_order_cases,
}
# The ops each case must have explained (at least one element each).
EXPLAINED_OPS: dict[str, set[str]] = {
    "conv": {"Conv2d", "Add", "Mul", "Sum"},
    "pool": {"MaxPool2d", "AvgPool2d", "Add", "Mul", "Sum"},
    "linear-and-loss": {"Linear", "Relu", "MatMul", "CrossEntropy", "Div", "Sum", "Mul", "Exp", "Sigmoid",
                        "Sub", "Add", "Reshape", "Tanh", "Abs", "LeakyRelu", "Softplus", "Clip", "Permute"},
    "elementwise-and-shape": {"Pow", "Log", "Maximum", "Neg", "Where", "BinaryCrossEntropy", "Pad", "Concatenate",
                              "BroadcastTo", "GetItem", "Max", "Sum", "Div", "Cast", "Clone", "Reshape"},
    "matmul-and-transposed-conv": {"MatMul", "Reshape", "Permute", "ConvTranspose2d", "Add", "Mul", "Sum"},
    "batch-norm": {"BatchNormalize", "Mul", "Add"},
    "second-order": {"DependsOn", "Relu", "Mul", "Add", "Conv2d", "ConvTranspose2d", "Conv2dGradWeight",
                     "ScatterAdd", "MaxPool2dBackward", "MaxPool2dGather", "AvgPool2dBackward", "AvgPool2d"},
}
# For every element of every gradient an op passed back: explain it, check that
# each factor is the value (or upstream gradient) it names and that the terms add
# up to the recorded element. Returns {op: elements explained} and the failures.
CHECK_EVERY_ELEMENT = """() => {
  const tape = JSON.parse(document.getElementById("tape").textContent);
  const decoded = new Map();
  const decode = (i) => {
    if (!decoded.has(i)) {
      const e = tape.arrays[i], raw = atob(e.b64), bytes = new Uint8Array(raw.length);
      for (let j = 0; j < raw.length; j++) bytes[j] = raw.charCodeAt(j);
      decoded.set(i, e.type === "f4" ? new Float32Array(bytes.buffer) : new Float64Array(bytes.buffer));
    }
    return decoded.get(i);
  };
  const flatOf = (index, shape) => index.reduce((f, i, d) => f * shape[d] + i, 0);
  const counts = {}, failures = [];
  for (const step of tape.backward) {
    if (!tape.nodes[step.node].op) continue;
    const upstream = decode(step.grad);
    for (const c of step.contributions) {
      const part = decode(c.added), op = tape.nodes[step.node].op;
      for (let flat = 0; flat < part.length; flat++) {
        const e = window.stepper.explain(step.node, c.position, flat);
        if (e.missing) { failures.push([op, c.position, flat, e.missing]); continue; }
        let sum = 0;
        for (const t of e.terms) {
          let product = t.weight;
          for (const f of t.factors) {
            const source = f.of === "grad" ? upstream : decode(tape.nodes[f.node].value);
            const shape = tape.nodes[f.node].shape;
            if (f.of === "grad" && f.node !== step.node) failures.push([op, "not the upstream gradient", f]);
            const fits = (i, d) => Number.isInteger(i) && i >= 0 && i < shape[d];
            const inside = f.index.length === shape.length && f.index.every(fits);
            if (!inside) failures.push([op, c.position, flat, "index outside the array", f]);
            if (source[flatOf(f.index, shape)] !== f.value) failures.push([op, c.position, flat, "factor", f]);
            product *= f.value;
          }
          // (Written as !(difference <= bound), so that a nan fails too.)
          if (!(Math.abs(product - t.product) <= 1e-12 * Math.abs(product))) failures.push([op, "product", t]);
          sum += t.product;
        }
        if (e.value !== part[flat]) failures.push([op, c.position, flat, "value", e.value, part[flat]]);
        // float64: only the order of the additions differs; a part cast to float32
        // (a Cast's input) is the sum rounded to float32.
        const rounding = tape.arrays[c.added].type === "f4" ? 2 ** -24 : 0;
        const tolerance = 1e-9 + (1e-9 + rounding) * Math.abs(part[flat]);
        if (!(Math.abs(sum - part[flat]) <= tolerance)) failures.push([op, c.position, flat, sum, part[flat]]);
        counts[op] = (counts[op] || 0) + 1;
      }
    }
  }
  return { counts, failures: failures.slice(0, 20) };
}"""


def _library_ops() -> set[str]:
    """The name of every op (Function subclass) the library defines."""
    found, stack = set(), [tg.Function]
    while stack:
        for op in stack.pop().__subclasses__():
            if op.__module__.startswith("tinygrad_cnn."):
                found.add(op.__name__)
            stack.append(op)
    return found


def test_the_explained_cases_cover_every_op_of_the_library():
    # Each op the page can show has an explainer, checked element by element by the test below.
    covered = set().union(*EXPLAINED_OPS.values())
    assert _library_ops() - covered == set()
    assert set(EXPLAINED_OPS) == set(EXPLAIN_CASES)


@pytest.mark.parametrize("case", list(EXPLAIN_CASES))
def test_every_explained_element_adds_up_to_the_engines_gradient(browser, tmp_path, case):
    root = EXPLAIN_CASES[case]()
    page = OpenPage(browser, Path(save_stepper(root, tmp_path / f"{case}.html")))
    try:
        result = page.js(CHECK_EVERY_ELEMENT)
    finally:
        page.page.close()
    assert result["failures"] == []
    expected_ops = EXPLAINED_OPS[case]
    assert expected_ops <= set(result["counts"]), result["counts"]
    if case == "conv":  # x (2*4*7*6) from four convolutions, four filters of 4*(4/groups)*3*2, two biases of 4
        assert result["counts"]["Conv2d"] == 4 * 336 + (96 + 96 + 48 + 24) + 2 * 4


# The cells lit up in the step panel, as (node, of, flat index).
# (A table cell, or for an array drawn as heatmaps, a marker laid over the cell.)
HIGHLIGHTED = """() => Array.from(document.querySelectorAll("#step-panel :is(td, .cell-mark).term"), (e) => {
  const grid = e.closest(".grid");
  return [grid.dataset.node, grid.dataset.of, Number(e.dataset.flat)];
})"""


# Each marker laid over a heatmap sits on the pixel of the cell it names: its
# centre, read back into the canvas's cells, gives its flat index.
MARKERS_MISPLACED = """() => Array.from(document.querySelectorAll("#step-panel .cell-mark"), (mark) => {
  const wrap = mark.closest(".canvas-wrap"), c = wrap.querySelector("canvas");
  const [offset, h, w, gap] = ["offset", "h", "w", "gap"].map((k) => Number(wrap.dataset[k]));
  const box = c.getBoundingClientRect(), m = mark.getBoundingClientRect();
  const x = Math.floor((m.left + m.width / 2 - box.left - c.clientLeft) / (c.clientWidth / c.width));
  const y = Math.floor((m.top + m.height / 2 - box.top - c.clientTop) / (c.clientHeight / c.height));
  const flat = offset + (Math.floor(x / (w + gap)) * h + y) * w + (x % (w + gap));
  return flat === Number(mark.dataset.flat) ? null : [mark.dataset.flat, flat];
}).filter((wrong) => wrong !== null)"""

# One explanation, summed up in the page (a LeNet cell has 1,568 terms): its value,
# the sum of its products, the kinds of its factors, and the cells its factors name.
EXPLAIN_SUMMARY = """([node, position, flat]) => {
  const e = window.stepper.explain(node, position, flat);
  const shapes = JSON.parse(document.getElementById("tape").textContent).nodes;
  const flatOf = (f) => f.index.reduce((i, x, d) => i * shapes[f.node].shape[d] + x, 0);
  const cells = new Map(), kinds = new Set();
  let sum = 0;
  for (const t of e.terms) {
    sum += t.product;
    kinds.add(JSON.stringify(t.factors.map((f) => f.of)));
    for (const f of t.factors) cells.set(f.node + "|" + f.of + "|" + flatOf(f), [f.node, f.of, flatOf(f)]);
  }
  const factorKinds = [...kinds].map((k) => JSON.parse(k));
  return { value: e.value, sum, count: e.terms.length, kinds: factorKinds, cells: [...cells.values()] };
}"""


@pytest.mark.parametrize("builder", ["tiny-cnn", "strided-conv", "lenet"])
def test_clicking_a_filter_gradient_cell_explains_it_and_lights_up_its_terms(open_page, builder):
    page, _ = open_page(builder, collapse_modules=False)
    page.js("window.stepper.go(window.stepper.steps - 1)")
    state = page.state()
    tape = page.js("JSON.parse(document.getElementById('tape').textContent)")
    convs = [i for i, n in tape["nodes"].items() if n["op"] == "Conv2d"]
    conv = min(convs, key=lambda i: np.prod(tape["nodes"][tape["nodes"][i]["inputs"][1]]["shape"]))  # LeNet: conv1
    weight_id = tape["nodes"][conv]["inputs"][1]
    weight_grad = np.asarray(state["nodes"][weight_id]["grad"], dtype=np.float64).ravel()
    assert weight_grad.size == {"tiny-cnn": 4, "strided-conv": 108, "lenet": 32 * 9}[builder]
    conv_step = next(j for j, b in enumerate(tape["backward"]) if b["node"] == conv)
    page.js(f"window.stepper.go({len(tape['forward']) + conv_step})")
    # LeNet's conv1: two cells (each a sum of 2·28·28 terms; its upstream gradient is drawn as heatmaps).
    explained_cells = range(weight_grad.size) if builder != "lenet" else [4, 287]
    for flat in explained_cells:
        explained = page.js(f"({EXPLAIN_SUMMARY})(['{conv}', 1, {flat}])")
        assert explained["value"] == weight_grad[flat]
        assert explained["sum"] == pytest.approx(weight_grad[flat], rel=1e-5, abs=1e-5)
        assert explained["kinds"] == [["value", "grad"]]  # each term: an input cell times an upstream-gradient cell
        page.page.click(f'#step-panel .grid[data-node="{weight_id}"][data-of="part"] td[data-flat="{flat}"]')
        lit = {tuple(cell) for cell in page.js(HIGHLIGHTED)}
        assert lit == {tuple(cell) for cell in explained["cells"]}
        assert page.js(MARKERS_MISPLACED) == []
        assert f"is the sum of {explained['count']} terms" in page.page.inner_text("#step-panel .explanation")
    if builder == "tiny-cnn":  # the filter gradient the example's docstring derives by hand
        assert weight_grad.tolist() == [1.0, -3.5, -0.5, -3.0]
    assert page.errors == []


def test_a_shared_node_shows_before_plus_part_equals_after_element_by_element(open_page):
    page, _ = open_page("fan-out")
    a = page.node_id("a")
    sums = 0
    for k in range(page.js("window.stepper.steps")):
        page.js(f"window.stepper.go({k})")
        grids = page.js(
            """Array.from(document.querySelectorAll('#step-panel .sum-row'), (row) =>
                Array.from(row.querySelectorAll('.grid'), (g) => [g.dataset.node, g.dataset.of,
                    Array.from(g.querySelectorAll('td'), (td) => Number(td.title))]))"""
        )
        for (node_b, before_of, before), (node_p, part_of, part), (node_a, after_of, after) in grids:
            assert (node_b, node_p, node_a) == (a, a, a)
            assert (before_of, part_of, after_of) == ("before", "part-sum", "after")
            assert len(before) == len(part) == len(after) == 3
            assert np.allclose(np.add(before, part), after, rtol=1e-3)  # the cells show 4 significant digits
            sums += 1
    assert sums == 3  # a receives 4 contributions: the 2nd, 3rd and 4th are added to what it had


def test_stepping_through_a_filter_cells_terms_slides_the_input_patch(open_page):
    page, _ = open_page("tiny-cnn")
    page.go_to_backward_visit("conv_out")
    weight, image = page.node_id("conv.weight"), page.node_id("input")
    page.page.select_option("#speed", "300")
    page.page.click(f'#step-panel .grid[data-node="{weight}"][data-of="part"] td[data-flat="0"]')
    # Record every patch the page shows, as it changes (a MutationObserver sees each tick).
    page.js(
        f"""(() => {{
            window.patches = [];
            const cells = '#step-panel .grid[data-node="{image}"][data-of="value"] td.patch';
            new MutationObserver(() => {{
                const flats = Array.from(document.querySelectorAll(cells), (td) => Number(td.dataset.flat));
                const now = JSON.stringify(flats);
                if (now !== "[]" && now !== window.patches[window.patches.length - 1]) window.patches.push(now);
            }}).observe(document.getElementById("step-panel"), {{ attributes: true, subtree: true }});
        }})()"""
    )
    page.page.click("#step-panel .explanation button")
    for _ in range(100):  # nine terms, 0.3 s apart
        if page.js("window.patches.length") >= 9:
            break
        page.page.wait_for_timeout(200)
    patches = [sorted(json.loads(p)) for p in page.js("window.patches")]
    # dW[0, 0, 0, 0]: one term per position of the 2x2 filter on the 4x4 image, row by row.
    assert patches == [[r * 4 + c, r * 4 + c + 1, r * 4 + c + 4, r * 4 + c + 5] for r in range(3) for c in range(3)]
    assert page.errors == []


def test_arrays_shown_in_full_are_not_summarised_by_statistics(open_page):
    # Every tensor of the tiny CNN has at most 16 elements: the panel shows
    # their numbers in grids, so its text never falls back to mean/std/norms.
    page, _ = open_page("tiny-cnn")
    for k in range(page.js("window.stepper.steps")):
        page.js(f"window.stepper.go({k})")
        text = page.js("document.getElementById('step-panel').innerText")
        assert "std " not in text and "\u2016before\u2016" not in text, (k, text)
    assert page.errors == []


def test_a_shared_node_of_many_elements_adds_element_by_element_in_words_too(browser, tmp_path):
    a = tg.Tensor(np.linspace(-1.0, 1.0, 6), requires_grad=True, name="a")
    root = ((a * a + a) * a).sum()
    page = OpenPage(browser, Path(save_stepper(root, tmp_path / "shared.html")))
    try:
        texts = []
        for k in range(page.js("window.stepper.steps")):
            page.js(f"window.stepper.go({k})")
            texts.append(page.js("document.getElementById('step-panel').innerText"))
        joined = "\n".join(texts)
        assert "before + this part = after, element by element" in joined
        assert "\u2016before\u2016" not in joined and "std " not in joined
        assert page.errors == []
    finally:
        page.page.close()
