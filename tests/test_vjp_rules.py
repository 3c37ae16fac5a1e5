"""Every Function in the library declares its VJP rule (`vjp_rule`, a VjpRule: one
entry per input), and docs/ops.md lists each rule as the code declares it."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn.conv
import tinygrad_cnn.functional
import tinygrad_cnn.ops.common
import tinygrad_cnn.ops.elementwise
import tinygrad_cnn.ops.matrix
import tinygrad_cnn.ops.reductions
import tinygrad_cnn.ops.shape
from tinygrad_cnn.function import Function
from tinygrad_cnn.vjp_rule import VjpRule

REPO = Path(__file__).resolve().parent.parent
# The modules that define Functions, imported explicitly above.
MODULES = (
    tinygrad_cnn.ops.common, tinygrad_cnn.ops.elementwise, tinygrad_cnn.ops.reductions, tinygrad_cnn.ops.shape,
    tinygrad_cnn.ops.matrix, tinygrad_cnn.conv, tinygrad_cnn.functional,
)


def library_functions() -> list[type[Function]]:
    """Every subclass of Function (at any depth) defined in a tinygrad_cnn module."""
    found, stack = [], list(Function.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("tinygrad_cnn.") and cls not in found:
            found.append(cls)
    return sorted(found, key=lambda cls: (cls.__module__, cls.__name__))


def test_the_walk_finds_the_functions_of_every_module():
    modules = {cls.__module__ for cls in library_functions()}
    assert {module.__name__ for module in MODULES} <= modules
    names = {cls.__name__ for cls in library_functions()}
    assert {"Add", "Mul", "MatMul", "Conv2d", "MaxPool2d", "Relu", "CrossEntropy"} <= names


def test_the_base_class_declares_no_rule():
    assert Function.vjp_rule == ""


@pytest.mark.parametrize("cls", library_functions(), ids=lambda cls: cls.__name__)
def test_every_function_declares_its_rule(cls):
    rule = cls.__dict__.get("vjp_rule")
    assert isinstance(rule, VjpRule), f"{cls.__name__} declares no VjpRule next to its backward"
    assert rule.startswith("dL/d"), f"{cls.__name__}.vjp_rule should read 'dL/dx = ...', got {rule!r}"
    assert "\n" not in rule and rule.plain.strip() and "\n" not in rule.plain
    # One entry per input of forward, in order (one for an op of any number of inputs).
    if isinstance(cls.forward, np.ufunc):  # Add, Sub, Mul: numpy's own function is the forward
        parameters, inputs = [], cls.forward.nin
    else:
        parameters = list(inspect.signature(cls.forward).parameters.values())[1:]
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
        inputs = len([p for p in parameters if p.kind in kinds and p.default is p.empty])
    assert len(rule.entries) == inputs, (cls.__name__, list(rule.entries), inputs)
    # Every placeholder names the upstream gradient, the result or an input of the rule.
    known = {"g", "out", *rule.entries}
    for text in rule.entries.values():
        if text is not None:
            assert set(re.findall(r"\{(\w+)\}", text)) <= known, (cls.__name__, text)
            assert "{g}" in text or "g" not in re.findall(r"\b\w\b", text), (cls.__name__, text)  # g as a placeholder
    # The settings it mentions are settings of the op.
    keywords = {p.name for p in parameters if p.kind is p.KEYWORD_ONLY or p.default is not p.empty}
    assert set(rule.settings) <= keywords, (cls.__name__, set(rule.settings) - keywords)


def test_a_rule_is_filled_with_the_real_names_and_settings():
    from tinygrad_cnn.conv import Conv2d

    lines = Conv2d.vjp_rule.fill("loss", ["images", "conv.weight", "conv.bias"], "conv_out",
                                 {"stride": (2, 2), "padding": (1, 1), "dilation": (1, 1), "groups": 1})
    assert lines[1] == "∂loss/∂conv.weight = images ⋆ ∂loss/∂conv_out (valid cross-correlation), stride 2, padding 1"
    assert lines[0].startswith("∂loss/∂images = ∂loss/∂conv_out ∗ conv.weight (full convolution)")
    assert lines[2] == "∂loss/∂conv.bias = Σ ∂loss/∂conv_out over N, H, W, stride 2, padding 1"
    # A target gets no gradient, so no rule; an op of any number of inputs gives its one entry to each.
    assert tinygrad_cnn.functional.CrossEntropy.vjp_rule.fill("loss", ["logits", "target"], "ce", {})[1] == ""
    concatenated = tinygrad_cnn.ops.Concatenate.vjp_rule.fill("f", ["p", "q"], "pq", {"axis": 1})
    assert concatenated == ["∂f/∂p = the slice of ∂f/∂pq where p sits along axis, axis 1",
                            "∂f/∂q = the slice of ∂f/∂pq where q sits along axis, axis 1"]


def _docs_rules() -> dict[str, str]:
    """The 'Function | rule' table of docs/ops.md: class name -> rule text."""
    text = (REPO / "docs" / "ops.md").read_text(encoding="utf-8")
    section = text.split("## The rules as the code declares them", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| `[\w.]+` \| (.+?) \|$", section, flags=re.M)
    return {name: rule.replace("\\|", "|") for name, rule in rows}


def test_docs_ops_lists_every_rule_as_declared():
    documented = _docs_rules()
    declared = {cls.__name__: cls.vjp_rule for cls in library_functions()}
    assert sorted(documented) == sorted(declared), "docs/ops.md and the Functions list different ops"
    for name, rule in declared.items():
        assert documented[name] == rule, f"docs/ops.md shows a different rule for {name}"
