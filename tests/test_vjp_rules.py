"""Every Function in the library declares its VJP rule (`vjp_rule`), and
docs/ops.md lists each rule as the code declares it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tinygrad_cnn.conv
import tinygrad_cnn.functional
import tinygrad_cnn.ops
from tinygrad_cnn.engine import Function

REPO = Path(__file__).resolve().parent.parent
# The modules that define Functions, imported explicitly above.
MODULES = (tinygrad_cnn.ops, tinygrad_cnn.conv, tinygrad_cnn.functional)


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
    assert isinstance(rule, str) and rule.strip(), f"{cls.__name__} declares no vjp_rule next to its backward"
    assert rule.startswith("dL/d"), f"{cls.__name__}.vjp_rule should read 'dL/dx = ...', got {rule!r}"
    assert "\n" not in rule


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
