"""Names that dot would misread, drawn through the real `dot`: entities drawn
literally, very long names cut with an ellipsis, characters dot cannot take
(NUL, lone surrogates, control characters) replaced, in the drawings and in
the step-through page's drawing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_stepper import _tape_json
from test_viz import needs_dot, parse_svg, value_nodes_by_name

import tinygrad_cnn as tg
from tinygrad_cnn.grad_mode import module_scope
from tinygrad_cnn.viz import draw_graph, render_graph, step_through
from tinygrad_cnn.viz.drawing import MAX_NAME_CHARACTERS


def _graph(name: str, backward: bool = False) -> tg.Tensor:
    """out = x * x at x = 2, with x called `name`."""
    x = tg.Tensor(np.array(2.0), requires_grad=True, name=name)
    out = x * x
    out.name = "out"
    if backward:
        out.backward()
    return out


@needs_dot
@pytest.mark.parametrize("backward", [False, True])
@pytest.mark.parametrize("name", ["a&amp;b", "&#60;x&#x3E;", "&lt;&gt;&quot;", "& alone &", "R&D;"])
def test_names_that_look_like_entities_are_drawn_literally(tmp_path, name, backward):
    root = _graph(name, backward)
    svg = parse_svg(render_graph(root, tmp_path / "g.svg", backward=backward))
    drawn = value_nodes_by_name(svg)
    assert name in drawn and "out" in drawn
    if backward:
        # The wire's local derivative names the input too: literally as well.
        # (x * x has two wires with one title; parse_svg keeps the last.)
        assert f"∂out/∂{name} = 2" in svg["edge"]["v1->op0"]


@needs_dot
def test_an_entity_in_a_module_path_is_drawn_literally(tmp_path):
    x = tg.Tensor(np.array(2.0), requires_grad=True, name="x")
    with module_scope("a&amp;b"):
        out = x * x
    svg = parse_svg(render_graph(out, tmp_path / "m.svg"))
    assert [texts[0] for texts in svg["cluster"].values()] == ["a&amp;b"]


@needs_dot
@pytest.mark.parametrize("name", ["x" * 10_000, "\\" * 10_000, "&" * 10_000, '"|{<' * 5_000])
def test_a_very_long_name_is_cut_with_an_ellipsis(tmp_path, name):
    svg = parse_svg(render_graph(_graph(name, backward=True), tmp_path / "long.svg", backward=True))
    cut = name[: MAX_NAME_CHARACTERS - 1] + "…"
    assert cut in value_nodes_by_name(svg)
    assert len(cut) == MAX_NAME_CHARACTERS


def test_a_name_of_the_limit_is_not_cut():
    name = "n" * MAX_NAME_CHARACTERS
    assert f'"{name} |' in draw_graph(_graph(name)).source
    longer = draw_graph(_graph(name + "n")).source
    assert f'"{name[:-1]}… |' in longer and name not in longer


@needs_dot
@pytest.mark.parametrize(
    "name, drawn",
    [
        ("nul\x00here", "nul\ufffdhere"),
        ("half\ud800pair", "half\ufffdpair"),
        ("low\udfffhalf", "low\ufffdhalf"),
        ("bell\x07esc\x1bdel\x7f", "bell\ufffdesc\ufffddel\ufffd"),
        ("emoji 🙂 kept", "emoji 🙂 kept"),
    ],
)
def test_characters_dot_cannot_take_are_replaced(tmp_path, name, drawn):
    # parse_svg reads the file as XML: it must also be valid XML.
    svg = parse_svg(render_graph(_graph(name, backward=True), tmp_path / "c.svg", backward=True))
    assert drawn in value_nodes_by_name(svg)


@needs_dot
@pytest.mark.parametrize("name", ["nul\x00here", "half\ud800pair", "a&amp;b", "x" * 10_000])
def test_the_page_draws_such_names_and_keeps_them_in_its_data(name):
    page = step_through(_graph(name)).html
    nodes = _tape_json(page)["nodes"].values()
    node = next(n for n in nodes if n["name"] == name)  # the full name, exactly
    assert node["label"] == (name if len(name) <= MAX_NAME_CHARACTERS else name[: MAX_NAME_CHARACTERS - 1] + "…")
    assert "<svg" in page


@needs_dot
@given(name=st.text(min_size=1, max_size=300))
def test_any_name_renders_as_valid_svg_that_shows_it(tmp_path_factory, name):
    # Any text hypothesis makes (NUL, lone surrogates, entities, quotes, record
    # characters, newlines, long runs) draws: dot succeeds and writes valid XML.
    path = tmp_path_factory.mktemp("names") / "g.svg"
    svg = parse_svg(render_graph(_graph(name, backward=True), path, backward=True))
    assert len(svg["node"]) == 4 and "out" in value_nodes_by_name(svg)  # out, x, the op and the legend
