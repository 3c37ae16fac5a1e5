"""The step-through page's checks and escaping (tinygrad_cnn.viz.stepper): names
that look like HTML, arrays whose histogram numpy cannot make, graphs too large
for the page, bad options and bad paths, all caught before backward runs."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_stepper import _tape_json, needs_dot
from test_stepper_browser import OpenPage, browser  # noqa: F401 (browser is a fixture)

import tinygrad_cnn as tg
from tinygrad_cnn.viz import save_stepper, step_through
from tinygrad_cnn.viz import stepper as stepper_module
from tinygrad_cnn.viz.page_file import json_for_script
from tinygrad_cnn.viz.stepper import FULL_ELEMENTS, HISTOGRAM_BINS, MAX_PAGE_OPS

HOSTILE_NAME = "<!--<script>&amp;&#60;x"


def _square_sum(name: str = "x") -> tuple[tg.Tensor, tg.Tensor]:
    x = tg.Tensor([1.0, 2.0], requires_grad=True, name=name)
    return (x * x).sum(), x


def _chain(ops: int) -> tuple[tg.Tensor, tg.Tensor]:
    """A chain of exactly `ops` ops: ops - 1 multiplications and a sum."""
    x = tg.Tensor([1.0, 2.0], requires_grad=True, name="x")
    y = x
    for _ in range(ops - 1):
        y = y * 1.0001
    return y.sum(), x


def _tape_text(page: str) -> str:
    return re.search(r'<script type="application/json" id="tape">(.*?)</script>', page, re.S).group(1)


# ---------------------------------------------------------------------------
# Names and titles that look like HTML
# ---------------------------------------------------------------------------


@needs_dot
def test_the_embedded_json_has_no_angle_brackets_or_ampersands():
    root, _ = _square_sum(HOSTILE_NAME)
    page = step_through(root, title="a <!--<script> & b").html
    text = _tape_text(page)
    assert not set("<>&") & set(text)
    tape = _tape_json(page)
    assert tape["title"] == "a <!--<script> & b"
    assert any(node["name"] == HOSTILE_NAME for node in tape["nodes"].values())


@needs_dot
def test_a_name_and_title_opening_a_comment_and_a_script_leave_the_page_working(browser, tmp_path):  # noqa: F811
    root, _ = _square_sum(HOSTILE_NAME)
    title = "steps <!--<script> of x"
    path = tmp_path / "hostile.html"
    save_stepper(root, path, title=title)
    page = OpenPage(browser, path)  # waits until window.stepper exists
    try:
        assert page.js("document.querySelector('h1').textContent") == title
        assert page.js("document.title") == title
        node = page.node_id(HOSTILE_NAME)
        # The drawing shows the name as text, literally (no element made of it).
        shown = page.js(f"document.getElementById('{node}').textContent")
        assert HOSTILE_NAME in shown
        assert page.js("document.querySelectorAll('script').length") == 2
        page.js("window.stepper.go(window.stepper.steps - 1)")
        assert page.state()["phase"] == "backward"
        assert page.errors == []
    finally:
        page.page.close()


# ---------------------------------------------------------------------------
# Large arrays with values numpy's histogram cannot bin
# ---------------------------------------------------------------------------

# Just over the size the page embeds in full, so it gets statistics and a histogram.
LARGE = FULL_ELEMENTS + 1000


@needs_dot
@pytest.mark.parametrize(
    "values, finite_count",
    [
        (np.full(LARGE, 1e30), LARGE),  # one constant: numpy's default range is [1e30 - 0.5, 1e30 + 0.5]
        (np.full(LARGE, -3.0e-300), LARGE),
        (np.resize([-1.5e308, 1.5e308, 0.0], LARGE), LARGE),  # the span overflows to inf
        (np.resize([0.0, np.finfo(np.float64).max], LARGE), LARGE),  # numpy's bin edges overflow
        (np.full(LARGE, np.nan), 0),
        (np.full(LARGE, np.inf), 0),
        (np.resize([np.inf, -np.inf, np.nan], LARGE), 0),
        (np.resize([np.nan, 7.0], LARGE), LARGE // 2),
    ],
    ids=[
        "constant-1e30", "constant-tiny", "span-overflows", "edges-overflow",
        "all-nan", "all-inf", "no-finite", "half-nan",
    ],
)
def test_a_large_tensor_with_awkward_values_makes_a_page(values, finite_count):
    x = tg.Tensor(values, requires_grad=True, name="big")
    page = step_through((x * 1.0).sum())
    tape = _tape_json(page.html)
    node = next(n for n in tape["nodes"].values() if n["name"] == "big")
    entry = tape["arrays"][node["value"]]
    assert entry["shape"] == [LARGE] and "stats" in entry
    if finite_count == 0:
        assert "hist" not in entry  # nothing finite to count
        return
    hist = entry["hist"]
    finite = values[np.isfinite(values)]
    assert len(hist["counts"]) == HISTOGRAM_BINS and sum(hist["counts"]) == finite_count
    assert (float(hist["lo"]), float(hist["hi"])) == (finite.min(), finite.max())


def test_the_histogram_of_two_values_splits_them_between_the_end_bins():
    hist = stepper_module._histogram(np.array([1e30] * 3 + [2e30] * 5))
    assert hist["counts"][0] == 3 and hist["counts"][-1] == 5 and sum(hist["counts"]) == 8
    overflow = stepper_module._histogram(np.array([-1e308, -1e308, 1e308]))
    assert overflow["counts"][0] == 2 and overflow["counts"][-1] == 1


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no overflow warning may leak either
@given(values=hnp.arrays(np.float64, st.integers(1, 200), elements=st.floats(allow_nan=True, allow_infinity=True)))
def test_the_histogram_counts_every_finite_value_of_any_array(values):
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return
    hist = stepper_module._histogram(finite)
    assert len(hist["counts"]) == HISTOGRAM_BINS and sum(hist["counts"]) == finite.size
    assert (hist["lo"], hist["hi"]) == (finite.min(), finite.max())
    # The smallest and largest values are counted in the first and last bins (or one bin, if all are equal).
    assert hist["counts"][0] >= 1 and hist["counts"][-1] >= 1 or hist["lo"] == hist["hi"]


# ---------------------------------------------------------------------------
# The size of the graph
# ---------------------------------------------------------------------------


def test_a_graph_over_the_limit_is_refused_before_dot_and_backward(monkeypatch):
    def no_dot(source: str) -> str:
        raise AssertionError("dot ran for a graph that is too large")

    monkeypatch.setattr(stepper_module, "_render_svg", no_dot)
    root, x = _chain(MAX_PAGE_OPS + 1)
    with pytest.raises(ValueError, match=rf"the graph has 1,001 ops.*up to {MAX_PAGE_OPS:,}.*\.detach\(\)"):
        step_through(root)
    assert x.grad is None and not root._ctx.released
    root.backward()  # the graph is intact
    assert x.grad is not None


@needs_dot
def test_a_graph_at_the_limit_makes_a_page(monkeypatch):
    monkeypatch.setattr(stepper_module, "MAX_PAGE_OPS", 5)
    root, _ = _chain(5)
    assert len(_tape_json(step_through(root).html)["backward"]) == 6
    with pytest.raises(ValueError, match="the graph has 6 ops"):
        step_through(_chain(6)[0])


# ---------------------------------------------------------------------------
# Options and paths, checked before backward
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"rankdir": "XY"}, ValueError, "rankdir must be one of LR, RL, TB, BT"),
        ({"rankdir": 3}, ValueError, "rankdir must be one of"),
        ({"precision": 0}, ValueError, "precision .* from 1 to 17, got 0"),
        ({"precision": -2}, ValueError, "precision .* got -2"),
        ({"precision": 18}, ValueError, "precision .* got 18"),
        ({"precision": 4.0}, TypeError, "precision must be an int, got float"),
        ({"precision": True}, TypeError, "precision must be an int, got bool"),
        ({"lr": "abc"}, TypeError, "lr must be a number, got str 'abc'"),
        ({"lr": -0.1}, ValueError, "lr must be a finite number >= 0, got -0.1"),
        ({"lr": float("nan")}, ValueError, "lr must be a finite number"),
        ({"lr": float("inf")}, ValueError, "lr must be a finite number"),
        ({"seed": -1}, ValueError, "seed must be >= 0, got -1"),
        ({"seed": 1.5}, TypeError, "seed must be an int, got float"),
        ({"seed": "0"}, TypeError, "seed must be an int, got str"),
        ({"title": 5}, TypeError, "title must be a str or None, got int 5"),
        ({"title": b"bytes"}, TypeError, "title must be a str or None, got bytes"),
        ({"collapse_modules": "yes"}, TypeError, "collapse_modules must be True, False or None, got str"),
    ],
)
def test_bad_options_are_named_before_backward(options, error, message):
    root, x = _square_sum()
    with pytest.raises(error, match="step_through: " + message):
        step_through(root, **options)
    assert x.grad is None and not root._ctx.released


@needs_dot
def test_good_options_of_every_kind_are_accepted():
    root, x = _square_sum()
    page = step_through(root, rankdir="TB", precision=np.int64(17), lr=np.float32(0.5), seed=np.int64(3),
                        title="t", collapse_modules=False)
    tape = _tape_json(page.html)
    assert (tape["precision"], tape["lr"], tape["title"]) == (17, 0.5, "t")
    assert np.array_equal(x.grad.data, [2.0, 4.0])


@pytest.mark.parametrize("where", ["folder", "under-a-file", "empty-name"])
def test_a_bad_path_is_found_before_backward_and_a_retry_gives_single_gradients(tmp_path, where):
    (tmp_path / "file.txt").write_text("not a folder")
    bad = {
        "folder": (tmp_path, IsADirectoryError, "is a folder"),
        "under-a-file": (tmp_path / "file.txt" / "steps.html", NotADirectoryError, "is a file, not a folder"),
        "empty-name": ("", IsADirectoryError, "is a folder"),
    }
    path, error, message = bad[where]
    root, x = _square_sum()
    with pytest.raises(error, match="save_stepper: .*" + message):
        save_stepper(root, path)
    assert x.grad is None and not root._ctx.released
    assert (tmp_path / "file.txt").read_text() == "not a folder"
    if shutil.which("dot") is not None:
        # The retry with a good path: the gradients of one backward pass, not two.
        save_stepper(root, tmp_path / "new" / "steps.html")
        assert np.array_equal(x.grad.data, [2.0, 4.0])
        assert "window.stepper" in (tmp_path / "new" / "steps.html").read_text()


def test_a_place_where_no_file_can_be_created_is_refused(tmp_path):
    root, x = _square_sum()
    # /proc accepts no new files, not even from root.
    with pytest.raises(PermissionError, match=r"save_stepper: cannot write '/proc/steps\.html'"):
        save_stepper(root, "/proc/steps.html")
    with pytest.raises(TypeError, match="save_stepper: path must be a str or a path, got int"):
        save_stepper(root, 5)
    assert x.grad is None and not root._ctx.released


def test_json_for_a_script_escapes_every_angle_bracket_and_ampersand():
    text = json_for_script({"t": "</script><!--&", "n": float("nan")})
    assert text == '{"t":"\\u003c/script\\u003e\\u003c!--\\u0026","n":"nan"}'


@needs_dot
def test_a_lone_surrogate_in_the_title_is_replaced_not_a_unicode_error(tmp_path):
    root, x = _square_sum()
    root.name = "loss\ud800"  # the default title names the root
    path = save_stepper(root, tmp_path / "default.html")
    page = (tmp_path / "default.html").read_text(encoding="utf-8")
    assert "<title>Backward pass of loss\ufffd</title>" in page and path.endswith("default.html")
    root, _ = _square_sum()
    save_stepper(root, tmp_path / "given.html", title="half \udc00 pair")
    assert "<h1>half \ufffd pair</h1>" in (tmp_path / "given.html").read_text(encoding="utf-8")


def test_a_missing_dot_is_named_before_backward_runs(monkeypatch):
    from tinygrad_cnn.viz import GraphvizNotFoundError
    from tinygrad_cnn.viz import drawing as drawing_module

    monkeypatch.setattr(drawing_module.shutil, "which", lambda name: None)
    root, x = _square_sum()
    with pytest.raises(GraphvizNotFoundError, match=r"^step_through: .*apt-get install graphviz"):
        step_through(root)
    assert x.grad is None and not root._ctx.released
