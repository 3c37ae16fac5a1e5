"""Tests of the recorder of the backward pass and of the step-through page's
file (tinygrad_cnn.viz.recorder, tinygrad_cnn.viz.stepper), without a browser.
The page itself is driven in a real browser by test_stepper_browser.py."""

from __future__ import annotations

import base64
import json
import re
import shutil
from importlib import resources

import numpy as np
import pytest

import tinygrad_cnn as tg
import tinygrad_cnn.functional as F
from tinygrad_cnn.backward import active_observers, topological_order
from tinygrad_cnn.models import build_model
from tinygrad_cnn.viz import chain_rule_example, graph_command, record_backward, save_stepper, step_through
from tinygrad_cnn.viz.stepper import probe_vjp

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")


class WrongSquare(tg.Function):
    """x ** 2 with a deliberately wrong VJP (3x instead of 2x): the negative control."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, g):
        (x,) = self.parents
        return (g * x * 3.0,)


def _fan_out_graph() -> tuple[tg.Tensor, dict[str, tg.Tensor]]:
    """a is used four times: by b = a * a (twice), c = b + a and s = sum(c * a)."""
    a = tg.Tensor([1.0, 2.0, -0.5], requires_grad=True, name="a")
    w = tg.Tensor([0.5, -1.0, 2.0], requires_grad=True, name="w")
    b = a * a
    c = b + a
    s = (c * a * w).sum()
    return s, {"a": a, "w": w}


def _lenet_step(seed: int) -> tuple[tg.Tensor, tg.nn.Module]:
    tg.manual_seed(seed)
    model = build_model("lenet")
    images = tg.randn(2, 1, 28, 28)
    labels = tg.Tensor(np.array([3, 7]))
    return F.cross_entropy(model(images), labels), model


def _tape_json(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="tape">(.*?)</script>', page, re.S)
    return json.loads(match.group(1))


def _decode(entry: dict) -> np.ndarray:
    raw = base64.b64decode(entry["b64"])
    return np.frombuffer(raw, dtype="<f4" if entry["type"] == "f4" else "<f8").reshape(entry["shape"])


# ---------------------------------------------------------------------------
# The recorder
# ---------------------------------------------------------------------------


def test_recorder_follows_the_engines_own_order_and_numbers():
    ex = chain_rule_example(run_backward=False)
    order = [t.name for t in reversed(topological_order([ex["f"]]))]
    tape = record_backward(ex["f"])
    assert [v.node.tensor.name for v in tape.visits] == order
    grads = {v.node.tensor.name: float(v.grad) for v in tape.visits}
    assert grads == {"f": 1.0, "q": -4.0, "z": 3.0, "x": -4.0, "y": -4.0}
    # What each VJP returned, and where it went.
    q_visit = next(v for v in tape.visits if v.node.tensor.name == "q")
    assert [(c.target.tensor.name, float(c.returned), c.k, c.n) for c in q_visit.contributions] == [
        ("x", -4.0, 1, 1),
        ("y", -4.0, 1, 1),
    ]
    assert float(ex["x"].grad.data) == -4.0 and not active_observers()


def test_recorder_leaves_the_same_gradients_as_a_plain_backward_chain_rule():
    plain = chain_rule_example(run_backward=False)
    plain["f"].backward()
    recorded = chain_rule_example(run_backward=False)
    tape = record_backward(recorded["f"])
    for name in ("x", "y", "z"):
        assert np.array_equal(recorded[name].grad.data, plain[name].grad.data)
        assert np.array_equal(tape.final_grads()[id(recorded[name])], plain[name].grad.data)


def test_recorder_fan_out_contributions_add_up_before_and_after():
    plain_root, plain = _fan_out_graph()
    plain_root.backward()
    root, leaves = _fan_out_graph()
    tape = record_backward(root)
    a = leaves["a"]
    assert np.array_equal(a.grad.data, plain["a"].grad.data)
    assert np.array_equal(leaves["w"].grad.data, plain["w"].grad.data)
    to_a = [c for v in tape.visits for c in v.contributions if c.target.tensor is a]
    assert [c.k for c in to_a] == [1, 2, 3, 4] and {c.n for c in to_a} == {4}
    assert to_a[0].before is None and np.array_equal(to_a[0].after, to_a[0].added)
    for previous, c in zip(to_a, to_a[1:]):
        # The engine's running sum, as it was before and after each addition.
        assert c.before is previous.after
        assert np.array_equal(c.after, c.before + c.added)
    assert np.array_equal(to_a[-1].after, a.grad.data)
    # x * x: both inputs of one op are the same tensor, recorded as positions 0 and 1.
    square = next(v for v in tape.visits if v.node.function is not None and v.node.function.parents[0] is a
                  and len(v.contributions) == 2 and v.contributions[1].target.tensor is a)
    assert [c.position for c in square.contributions] == [0, 1]


def test_recorder_undone_broadcast_is_kept_apart_from_what_the_vjp_returned():
    bias = tg.Tensor([1.0, 2.0], requires_grad=True, name="bias")
    x = tg.Tensor(np.ones((3, 2), dtype=np.float32), requires_grad=True, name="x")
    tape = record_backward((x + bias).sum())
    add = next(v for v in tape.visits if v.node.function is not None and v.node.function.name == "Add")
    to_bias = next(c for c in add.contributions if c.target.tensor is bias)
    assert to_bias.returned.shape == (3, 2) and to_bias.added.shape == (2,)
    assert np.array_equal(bias.grad.data, [3.0, 3.0])


def test_recorder_lenet_step_gradients_equal_a_plain_backward_exactly():
    plain_loss, plain_model = _lenet_step(5)
    plain_loss.backward()
    loss, model = _lenet_step(5)
    tape = record_backward(loss)
    final = tape.final_grads()
    for (name, p), (_, q) in zip(model.named_parameters(), plain_model.named_parameters()):
        assert np.array_equal(p.grad.data, q.grad.data), name
        assert np.array_equal(final[id(p)], q.grad.data), name


def test_recorder_is_off_outside_the_call_and_after_an_error():
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="gradient must be given"):
        record_backward(x * 2.0)
    assert not active_observers()
    with pytest.raises(TypeError, match="record_backward: root must be a Tensor"):
        record_backward(np.ones(2))
    tape = record_backward((x * 2.0).sum())
    assert not active_observers() and len(tape.visits) == 3


def test_recorder_takes_a_gradient_for_a_non_scalar_root():
    x = tg.Tensor([1.0, 2.0], requires_grad=True, name="x")
    tape = record_backward(x * 3.0, gradient=np.array([1.0, -1.0], dtype=np.float32))
    assert np.array_equal(tape.seed, [1.0, -1.0]) and np.array_equal(x.grad.data, [3.0, -3.0])


# ---------------------------------------------------------------------------
# The finite-difference probe
# ---------------------------------------------------------------------------


def test_probe_passes_a_right_vjp_and_fails_a_wrong_one():
    rng = np.random.default_rng(0)
    x = tg.Tensor([0.5, -1.5, 2.0], requires_grad=True)
    right = x * x
    wrong = WrongSquare.apply(x)
    x_data = [x.data]
    assert probe_vjp(right._ctx, [x.data, x.data], [True, True], rng)["status"] == "pass"
    result = probe_vjp(wrong._ctx, x_data, [True], rng)
    assert result["status"] == "fail" and result["error"] > result["tolerance"]


def test_probe_says_no_verdict_at_a_tie_of_max_pool():
    rng = np.random.default_rng(0)
    x = tg.Tensor(np.ones((1, 1, 2, 2), dtype=np.float32), requires_grad=True)  # four equal maxima
    out = F.max_pool2d(x, 2)
    assert probe_vjp(out._ctx, [x.data], [True], rng)["status"] == "kink"


# ---------------------------------------------------------------------------
# The page's file
# ---------------------------------------------------------------------------


@needs_dot
def test_page_is_one_self_contained_file(tmp_path):
    ex = chain_rule_example(run_backward=False)
    path = save_stepper(ex["f"], tmp_path / "steps.html")
    page = (tmp_path / "steps.html").read_text()
    assert path == str(tmp_path / "steps.html")
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    # No reference to anything outside the file.
    assert not re.search(r'\b(src|href)\s*=\s*"(?!#)', page.split("<script>")[0].replace('xlink:href="#', ""))
    assert "<svg" in page and 'id="v0"' in page and "window.stepper" in page
    tape = _tape_json(page)
    assert tape["rootName"] == "f" and len(tape["backward"]) == 5 and len(tape["forward"]) == 3
    # step_through ran backward itself, leaving .grad as backward would.
    assert float(ex["x"].grad.data) == -4.0 and float(ex["z"].grad.data) == 3.0


@needs_dot
def test_page_escapes_the_end_of_a_script_in_names(tmp_path):
    x = tg.Tensor([1.0, 2.0], requires_grad=True, name="</script><b>x")
    page = step_through((x * x).sum()).html
    assert page.count("</script>") == 2  # the tape's and the script's own ends, nothing else
    assert any(n["name"] == "</script><b>x" for n in _tape_json(page)["nodes"].values())


@needs_dot
def test_page_embeds_the_recorded_numbers_exactly(tmp_path):
    root, leaves = _fan_out_graph()
    stepper = step_through(root)
    tape = _tape_json(stepper.html)
    arrays = tape["arrays"]
    a_id = next(i for i, n in tape["nodes"].items() if n["name"] == "a")
    last = [c for step in tape["backward"] for c in step["contributions"] if c["to"] == a_id][-1]
    assert (last["k"], last["n"]) == (4, 4)
    assert np.array_equal(_decode(arrays[last["after"]]), leaves["a"].grad.data)
    assert np.array_equal(_decode(arrays[tape["nodes"][a_id]["grad"]]), leaves["a"].grad.data)


@needs_dot
def test_wrong_function_fails_its_node_only():
    x = tg.Tensor([0.5, -1.5, 2.0], requires_grad=True, name="x")
    y = WrongSquare.apply(x)
    y.name = "wrong"
    loss = (y * x + x.exp()).sum()
    checks = {n["label"]: n["check"]["status"] for n in _tape_json(step_through(loss).html)["nodes"].values()
              if n["check"]}
    assert checks.pop("wrong") == "fail"
    assert checks == {f"output of {op}": "pass" for op in ("mul", "exp", "add", "sum")}


@needs_dot
def test_lenet_page_is_under_three_megabytes(tmp_path):
    loss, _ = _lenet_step(0)
    size = len(step_through(loss).html.encode("utf-8"))
    assert size < 3_000_000


@needs_dot
def test_non_scalar_root_needs_a_gradient():
    x = tg.Tensor([1.0, 2.0], requires_grad=True, name="x")
    with pytest.raises(RuntimeError, match="gradient must be given"):
        step_through(x * 2.0)
    stepper = step_through(x * 2.0, gradient=np.array([1.0, 1.0], dtype=np.float32))
    assert np.array_equal(x.grad.data, [2.0, 2.0]) and "window.stepper" in stepper.html


def test_bad_roots_are_clear_errors():
    with pytest.raises(TypeError, match="step_through: root must be a Tensor"):
        step_through([1.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        step_through(tg.Tensor([1.0]))
    ex = chain_rule_example(run_backward=True)
    with pytest.raises(RuntimeError, match="freed by an earlier backward"):
        step_through(ex["f"])


@needs_dot
def test_jupyter_shows_the_page_in_an_isolated_iframe():
    stepper = step_through(chain_rule_example(run_backward=False)["f"])
    shown = stepper._repr_html_()
    assert shown.startswith("<iframe srcdoc=") and 'sandbox="allow-scripts"' in shown
    assert "<script" not in shown  # escaped inside srcdoc


def test_page_files_are_package_data():
    page = resources.files("tinygrad_cnn.viz") / "page"
    for name in ("stepper.html", "stepper.js", "stepper.css"):
        assert (page / name).is_file(), name
    assert "window.stepper" in (page / "stepper.js").read_text()


@needs_dot
def test_graph_command_writes_the_page(tmp_path, capsys):
    out = tmp_path / "steps.html"
    assert graph_command(["--example", "chain-rule", "--html", "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert len(_tape_json(out.read_text())["backward"]) == 5
    lenet = tmp_path / "lenet.html"
    assert graph_command(["--model", "lenet", "--html", "-o", str(lenet)]) == 0
    assert _tape_json(lenet.read_text())["collapsed"] is False  # 37 nodes: a small model opens expanded
    assert graph_command(["--model", "lenet", "--html", "--collapse-modules", "-o", str(lenet)]) == 0
    assert _tape_json(lenet.read_text())["collapsed"] is True


def test_graph_command_html_needs_an_output_file(capsys):
    with pytest.raises(SystemExit):
        graph_command(["--example", "chain-rule", "--html"])
    assert "--html needs -o" in capsys.readouterr().err
    assert graph_command(["--model", "nonexistent", "--html", "-o", "x.html"]) == 2


@needs_dot
def test_batch_norm_step_is_recorded_exactly_and_its_normalize_op_is_not_probed():
    def make():
        tg.manual_seed(1)
        model = build_model("lenet_bn")
        return F.cross_entropy(model(tg.randn(2, 1, 28, 28)), tg.Tensor(np.array([1, 2]))), model

    plain_loss, plain_model = make()
    plain_loss.backward()
    loss, model = make()
    nodes = _tape_json(step_through(loss).html)["nodes"].values()
    for (name, a), (_, b) in zip(plain_model.state_dict().items(), model.state_dict().items()):
        assert np.array_equal(np.asarray(a), np.asarray(b)), name  # running statistics untouched by the probes
    for (name, p), (_, q) in zip(plain_model.named_parameters(), model.named_parameters()):
        assert np.array_equal(p.grad.data, q.grad.data), name
    statuses = {n["label"]: n["check"]["status"] for n in nodes if n["check"]}
    normalize = [n["check"]["status"] for n in nodes if n["op"] == "BatchNormalize"]
    assert normalize == ["skip", "skip"] and "fail" not in statuses.values()
