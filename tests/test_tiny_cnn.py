"""The tiny CNN example (tinygrad_cnn.viz.tiny_cnn_example): its numbers are
checked twice, against values worked out by hand and against an independent
computation in plain numpy (loops over pixels, no engine)."""

from __future__ import annotations

import math
import re
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tinygrad_cnn import functional as F
from tinygrad_cnn import nn
from tinygrad_cnn.conv import MaxPool2d
from tinygrad_cnn.viz import draw_graph, render_graph, tiny_cnn_example, wire_rules
from tinygrad_cnn.viz.examples import TINY_CNN_NUMBERS

NAMES = [
    "input", "conv.weight", "conv.bias", "conv_out", "relu_out", "pool_out", "flat",
    "fc.weight", "fc.bias", "logits", "target", "loss",
]

# Worked out by hand (see the docstring of tiny_cnn_example and docs/visualization.md).
BY_HAND = {
    "conv_out": [[7, 3, -2], [1, 3, 2], [4, 6, 1]],
    "relu_out": [[7, 3, 0], [1, 3, 2], [4, 6, 1]],
    "pool_out": [[7, 3], [6, 6]],
    "flat": [7, 3, 6, 6],
    "logits": [1.5, 1.5],
    "loss": math.log(2),
}
GRAD_BY_HAND = {
    "loss": 1.0,
    "logits": [-0.5, 0.5],
    "fc.bias": [-0.5, 0.5],
    "fc.weight": [[-3.5, -1.5, -3, -3], [3.5, 1.5, 3, 3]],
    "flat": [-1.5, 0.5, 0.5, 1],
    "pool_out": [[-1.5, 0.5], [0.5, 1]],
    # 6 at (2, 1) wins two windows: 0.5 + 1; the tie 3 = 3 goes to the first, (0, 1).
    "relu_out": [[-1.5, 0.5, 0], [0, 0, 0], [0, 1.5, 0]],
    "conv_out": [[-1.5, 0.5, 0], [0, 0, 0], [0, 1.5, 0]],
    "conv.bias": [0.5],
    "conv.weight": [[1, -3.5], [-0.5, -3]],
    "input": [[-3, 1, 0, 0], [1.5, -2, 0.5, 0], [0, 3, 0, 0], [0, -1.5, 1.5, 0]],
}


def numpy_tiny_cnn() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Forward and backward of the tiny CNN with loops, in float64: values and gradients."""
    x = np.array(TINY_CNN_NUMBERS["input"], dtype=np.float64)[0, 0]
    w = np.array(TINY_CNN_NUMBERS["conv.weight"], dtype=np.float64)[0, 0]
    b = float(TINY_CNN_NUMBERS["conv.bias"][0])
    fc_w = np.array(TINY_CNN_NUMBERS["fc.weight"], dtype=np.float64)
    fc_b = np.array(TINY_CNN_NUMBERS["fc.bias"], dtype=np.float64)
    t = TINY_CNN_NUMBERS["target"][0]

    conv = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            conv[i, j] = sum(x[i + u, j + v] * w[u, v] for u in range(2) for v in range(2)) + b
    relu = np.maximum(conv, 0)
    pool = np.zeros((2, 2))
    winner = {}
    for i in range(2):
        for j in range(2):
            taps = [(i + u, j + v) for u in range(2) for v in range(2)]
            best = taps[0]
            for tap in taps[1:]:
                if relu[tap] > relu[best]:  # strictly: a tie keeps the first maximum
                    best = tap
            winner[i, j] = best
            pool[i, j] = relu[best]
    flat = pool.ravel()
    logits = fc_w @ flat + fc_b
    p = np.exp(logits - logits.max())
    p /= p.sum()
    loss = -math.log(p[t])

    g_logits = p - np.eye(2)[t]
    g_fc_w = np.outer(g_logits, flat)
    g_fc_b = g_logits
    g_flat = fc_w.T @ g_logits
    g_pool = g_flat.reshape(2, 2)
    g_relu = np.zeros((3, 3))
    for (i, j), tap in winner.items():
        g_relu[tap] += g_pool[i, j]
    g_conv = g_relu * (conv > 0)
    g_w = np.zeros((2, 2))
    g_x = np.zeros((4, 4))
    for i in range(3):
        for j in range(3):
            for u in range(2):
                for v in range(2):
                    g_w[u, v] += g_conv[i, j] * x[i + u, j + v]
                    g_x[i + u, j + v] += g_conv[i, j] * w[u, v]
    values = {"conv_out": conv, "relu_out": relu, "pool_out": pool, "flat": flat, "logits": logits,
              "loss": np.array(loss)}
    grads = {"loss": np.array(1.0), "logits": g_logits, "fc.weight": g_fc_w, "fc.bias": g_fc_b, "flat": g_flat,
             "pool_out": g_pool, "relu_out": g_relu, "conv_out": g_conv, "conv.bias": np.array([g_conv.sum()]),
             "conv.weight": g_w, "input": g_x}
    return values, grads


@pytest.fixture(scope="module")
def tiny():
    return tiny_cnn_example()


def test_every_named_tensor_is_returned_and_carries_its_name(tiny):
    assert list(tiny) == NAMES
    for name, tensor in tiny.items():
        assert tensor.name == name
    assert tiny["input"].shape == (1, 1, 4, 4)
    assert tiny["conv.weight"].shape == (1, 1, 2, 2)
    assert tiny["pool_out"].shape == (1, 1, 2, 2)
    assert tiny["logits"].shape == (1, 2)
    assert isinstance(tiny["conv.weight"], nn.Parameter) and isinstance(tiny["fc.bias"], nn.Parameter)


def test_values_match_the_hand_worked_ones_and_numpy(tiny):
    values, _ = numpy_tiny_cnn()
    for name, expected in BY_HAND.items():
        got = tiny[name].data
        np.testing.assert_allclose(got.reshape(np.shape(expected)), expected, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(got.reshape(values[name].shape), values[name], rtol=1e-6, err_msg=name)


def test_gradients_match_the_hand_worked_ones_and_numpy(tiny):
    _, grads = numpy_tiny_cnn()
    for name, expected in GRAD_BY_HAND.items():
        got = tiny[name].grad.data
        np.testing.assert_allclose(got.reshape(np.shape(expected)), expected, rtol=1e-6, atol=1e-7, err_msg=name)
        np.testing.assert_allclose(got.reshape(grads[name].shape), grads[name], rtol=1e-6, atol=1e-7, err_msg=name)
    assert tiny["target"].grad is None and not tiny["target"].requires_grad


def test_the_numbers_show_a_mask_a_tie_a_double_winner_and_a_filter_gradient(tiny):
    """What the example is for: each case happens exactly as described."""
    conv = tiny["conv_out"].data[0, 0]
    relu = tiny["relu_out"].data[0, 0]
    assert (conv < 0).sum() == 1 and (conv == 0).sum() == 0  # one ReLU input masked, none at the kink
    windows = [relu[i : i + 2, j : j + 2].ravel() for i in range(2) for j in range(2)]
    assert sum((window == window.max()).sum() > 1 for window in windows) == 1  # one tie
    # The tie's gradient goes to the first maximum only; the other 3 gets none.
    assert relu[0, 1] == relu[1, 1] == 3
    g_relu = tiny["relu_out"].grad.data[0, 0]
    assert g_relu[0, 1] == 0.5 and g_relu[1, 1] == 0
    # relu_out[2, 1] = 6 is the maximum of the two bottom windows: 0.5 + 1.
    g_pool = tiny["pool_out"].grad.data[0, 0]
    assert g_relu[2, 1] == g_pool[1, 0] + g_pool[1, 1] == 1.5
    g_filter = tiny["conv.weight"].grad.data
    assert np.count_nonzero(g_filter) == 4 and len(np.unique(g_filter)) == 4


def test_without_backward_no_gradient_is_set():
    tensors = tiny_cnn_example(run_backward=False)
    assert all(t.grad is None for t in tensors.values())
    assert tensors["loss"].requires_grad
    tensors["loss"].backward()
    np.testing.assert_allclose(tensors["conv.weight"].grad.data.reshape(2, 2), GRAD_BY_HAND["conv.weight"])


# ---------------------------------------------------------------------------
# The static backward drawing, rendered by the real `dot`
# ---------------------------------------------------------------------------

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
SVG = "{http://www.w3.org/2000/svg}"


def edge_texts(path) -> dict[str, str]:
    """Each edge of an SVG written by dot: its title ('v3->op2') -> its label lines joined by spaces."""
    found = {}
    for group in ET.parse(path).iter(f"{SVG}g"):
        if group.get("class") == "edge":
            title = group.find(f"{SVG}title").text
            found[title] = " ".join((t.text or "").strip() for t in group.iter(f"{SVG}text")).strip()
    return found


@needs_dot
def test_the_backward_drawing_shows_each_wires_rule(tmp_path):
    tensors = tiny_cnn_example()
    loss = tensors["loss"]
    drawing = draw_graph(loss, backward=True, rankdir="TB")
    path = render_graph(loss, tmp_path / "tiny_backward.svg", backward=True, rankdir="TB")
    wires = edge_texts(path)

    # Which wire is which: the DOT ids of the value nodes, by the tensor's name,
    # and of the op nodes, by the op's label.
    # (A label reads label="{#4  logits | ..." or, for an op, label=linear.)
    ids = dict(re.findall(r'^\s*(\w+) \[label="?\{?(?:#\d+\s+)?([^ |"}]+)', drawing.source, flags=re.M))
    by_label = {label: node for node, label in ids.items()}

    def wire(tensor_name: str, op_label: str) -> str:
        return wires[f"{by_label[tensor_name]}->{by_label[op_label]}"]

    # Every input that requires grad gets its own part of the op's rule.
    assert wire("input", "conv2d") == "dL/dx = g ∗ W (full convolution)"
    assert wire("conv.weight", "conv2d") == "dL/dW = x ⋆ g (valid cross-correlation)"
    assert wire("conv.bias", "conv2d") == "dL/db = Σ g over N, H, W"
    assert wire("conv_out", "relu") == "dL/dx = g·[x > 0]"
    assert wire("relu_out", "max_pool2d") == MaxPool2d.vjp_rule
    assert wire("flat", "linear") == "dL/dx = g·W"
    assert wire("fc.weight", "linear") == wire_rules(F.Linear, 3)[1]
    assert wire("fc.bias", "linear") == wire_rules(F.Linear, 3)[2]
    assert wire("logits", "cross_entropy") == F.CrossEntropy.vjp_rule

    # And in general: the wire into each input that requires grad, of every op
    # in the graph, carries that op's rule for that input (followed by the
    # local derivative on the wires of the scalar ops at the end).
    unclaimed = [text for text in wires.values() if text]
    expected = []
    for fn in _functions(loss):
        for parent, rule in zip(fn.parents, wire_rules(fn, len(fn.parents))):
            if parent.requires_grad:
                expected.append(rule)
    for rule in expected:
        match = next((text for text in unclaimed if text.startswith(rule)), None)
        assert match is not None, f"no wire shows {rule!r}"
        unclaimed.remove(match)
    assert unclaimed == []  # and no wire shows anything else
    # conv 3, relu 1, max-pool 1, reshape 1, linear 3, cross-entropy 1, then the mean: sum 1, div 1.
    assert len(expected) == 12


def _functions(root):
    """Every Function in root's graph, each once."""
    found, stack = [], [root]
    while stack:
        tensor = stack.pop()
        fn = tensor._ctx
        if fn is None or any(fn is f for f in found):
            continue
        found.append(fn)
        stack.extend(fn.parents)
    return found
