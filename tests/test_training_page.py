"""The training page (viz.save_training_page, `train --watch`, examples/learn_a_filter.py).

What the page shows is compared with the same training loop run again in
Python, in a real browser (Debian's chromium driven by Playwright, as in
test_stepper_browser.py, whose browser settings these tests share).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_stepper_browser import browser  # noqa: F401 (a fixture: one Chromium for the module)

import tinygrad_cnn as tg
from tinygrad_cnn import functional as F
from tinygrad_cnn import nn, optim
from tinygrad_cnn import train as T
from tinygrad_cnn.cli import main
from tinygrad_cnn.data import FASHION_MNIST_DIR
from tinygrad_cnn.viz import TrainingRecorder, save_training_page
from tinygrad_cnn.viz.training_page import FULL_ELEMENTS, training_page_html

REPO_ROOT = Path(__file__).resolve().parent.parent
needs_fashion_mnist = pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR), reason="Fashion-MNIST is not installed")


class SmallCNN(nn.Module):
    """conv (2 filters) -> ReLU -> max-pool -> linear: a filter layer and a dense layer to watch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(2 * 3 * 3, 3)

    def forward(self, x: tg.Tensor) -> tg.Tensor:
        x = self.pool(F.relu(self.conv(x)))
        return self.fc(x.reshape(x.shape[0], -1))


def make_run(dtype=np.float64, steps: int = 6, lr: float = 0.3, momentum: float = 0.0):
    """A fresh model, its optimizer and `steps` batches, the same every call."""
    tg.manual_seed(3)
    model = SmallCNN().to(dtype)
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    rng = np.random.default_rng(7)
    batches = [(rng.standard_normal((5, 1, 6, 6)).astype(dtype), rng.integers(0, 3, 5)) for _ in range(steps)]
    return model, optimizer, batches


def run_example(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO_ROOT / "examples" / name), *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})


def python_loop(model, optimizer, batches):
    """The loop the page records, written out: (loss, {name: value used}, {name: grad}) per step."""
    steps = []
    for inputs, targets in batches:
        used = {name: p.data.copy() for name, p in model.named_parameters()}
        loss = F.cross_entropy(model(tg.Tensor(inputs)), tg.Tensor(targets))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        grads = {name: p.grad.data.copy() for name, p in model.named_parameters()}
        steps.append((loss.item(), used, grads))
    return steps


# ---------------------------------------------------------------------------
# In Python: the record, the checks of the arguments
# ---------------------------------------------------------------------------


def test_the_record_is_the_same_loop_run_again(tmp_path):
    model, optimizer, batches = make_run()
    record = save_training_page(model, F.cross_entropy, batches, optimizer, 6, tmp_path / "page.html")
    again = python_loop(*make_run())
    assert record.steps == 6
    for k, (loss, used, grads) in enumerate(again):
        assert record.losses[k] == loss
        for name in used:
            np.testing.assert_array_equal(record.values[name][k], used[name])
            np.testing.assert_array_equal(record.grads[name][k], grads[name])
    for name, param in model.named_parameters():  # "W after" the last step is the model's final value
        np.testing.assert_array_equal(record.values[name][6], param.data)
    # The losses fall on this easy problem (a sanity check that the steps were real updates).
    assert record.losses[-1] < record.losses[0]


def test_a_generator_of_tensor_pairs_is_taken_as_far_as_steps(tmp_path):
    model, optimizer, batches = make_run(steps=4)
    pairs = ((tg.Tensor(x), tg.Tensor(y)) for x, y in batches)  # more batches than steps: only 3 are used
    record = save_training_page(model, F.cross_entropy, pairs, optimizer, 3, tmp_path / "page.html")
    assert record.steps == 3
    assert next(pairs)[0].shape == (5, 1, 6, 6)  # the fourth is still there


@pytest.mark.parametrize(
    "change, error, words",
    [
        ({"model": "not a model"}, TypeError, "model must be an nn.Module, got str"),
        ({"loss_fn": 3}, TypeError, "loss_fn must be callable"),
        ({"optimizer": None}, TypeError, "optimizer must be an optim.Optimizer, got NoneType"),
        ({"steps": 0}, ValueError, "steps must be >= 1, got 0"),
        ({"steps": 2.0}, TypeError, "steps must be an integer, got float"),
        ({"steps": 9}, ValueError, "steps=9 needs 9 batches, but batches gave only 6"),
        ({"batches": np.zeros((6, 2))}, TypeError, "batches must be an iterable of (inputs, targets) pairs"),
        ({"batches": [(np.zeros((5, 1, 6, 6)),)] * 6}, TypeError, "batch 0 must be an (inputs, targets) pair"),
        ({"batches": [([[0.0]], np.zeros(5))] * 6}, TypeError, "the inputs of batch 0 must be a numpy array"),
        ({"image": np.zeros((3, 6, 6))}, ValueError, "the 1 channel(s) the first convolution conv takes"),
        ({"loss_fn": lambda out, y: out}, TypeError, "loss_fn must return a scalar Tensor, got a Tensor of shape"),
        ({"path": 42}, TypeError, "path must be a file path"),
    ],
)
def test_bad_arguments_are_named_and_nothing_is_trained(tmp_path, change, error, words):
    model, optimizer, batches = make_run()
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    arguments = dict(model=model, loss_fn=F.cross_entropy, batches=batches, optimizer=optimizer, steps=6,
                     path=tmp_path / "page.html")
    arguments.update(change)
    with pytest.raises(error) as caught:
        save_training_page(**arguments)
    assert "save_training_page" in str(caught.value) and words in str(caught.value)
    for name, param in model.named_parameters():
        np.testing.assert_array_equal(param.data, before[name])
    assert not (tmp_path / "page.html").exists()


def test_a_path_that_cannot_be_written_fails_before_training(tmp_path):
    model, optimizer, batches = make_run()
    before = model.conv.weight.data.copy()
    with pytest.raises(ValueError, match="save_training_page: path .* is a directory"):
        save_training_page(model, F.cross_entropy, batches, optimizer, 6, tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError, match=r"save_training_page: cannot write path .*a-file/page.html.*is a file"):
        save_training_page(model, F.cross_entropy, batches, optimizer, 6, blocker / "page.html")
    np.testing.assert_array_equal(model.conv.weight.data, before)
    assert blocker.read_text() == "not a directory"


def test_a_diverging_run_names_the_batch(tmp_path):
    model, optimizer, batches = make_run()
    batches[2] = (np.full_like(batches[2][0], np.nan), batches[2][1])
    with pytest.raises(ValueError, match="the loss of batch 2 is nan"):
        save_training_page(model, F.cross_entropy, batches, optimizer, 6, tmp_path / "page.html")


def test_a_step_begun_but_not_finished_leaves_w_after_as_it_started(tmp_path):
    """A run stopped by an update that made a weight nan: the page ends with the last finished step."""
    model, optimizer, batches = make_run(steps=2)
    recorder = TrainingRecorder(model, optimizer, steps=5, path=tmp_path / "page.html")
    inputs, targets = batches[0]
    recorder.before_step()
    loss = F.cross_entropy(model(tg.Tensor(inputs)), tg.Tensor(targets))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    recorder.after_step(loss)
    finished = model.conv.weight.data.copy()
    recorder.before_step()  # the next step begins, and its update breaks a weight
    model.conv.weight.data[0, 0, 0, 0] = np.nan
    recorder.finish()
    assert recorder.written and recorder.record.steps == 1
    np.testing.assert_array_equal(recorder.record.values["conv.weight"][1], finished)
    recorder.after_step(loss)  # nothing more is recorded once finished
    assert recorder.record.steps == 1


def test_embedded_json_cannot_end_the_script(tmp_path):
    model, optimizer, batches = make_run(steps=1)
    record = save_training_page(model, F.cross_entropy, batches, optimizer, 1, tmp_path / "page.html")
    text = training_page_html(record, title="</script><script>alert(1)</script> & <!--")
    data = text[text.index('id="record">') + len('id="record">'): text.index("</script>", text.index('id="record">'))]
    assert "<" not in data and ">" not in data and "&" not in data
    assert "\\u003c/script\\u003e" in data
    assert "default-src 'none'" in text and "form-action 'none'" in text and "base-uri 'none'" in text


# ---------------------------------------------------------------------------
# In the browser
# ---------------------------------------------------------------------------


class TrainerPage:
    """A training page opened from disk, with everything it logged and requested."""

    def __init__(self, browser: object, path: Path) -> None:  # noqa: F811
        self.path = Path(path)
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(self.path.as_uri())
        self.page.wait_for_function("window.trainer !== undefined")

    def js(self, expression: str) -> object:
        return self.page.evaluate(expression)

    def state_at(self, k: int) -> dict:
        self.js(f"window.trainer.go({k})")
        return self.js("window.trainer.state()")

    def close(self) -> None:
        self.page.close()
        assert self.errors == [], self.errors
        assert self.requests == [self.path.as_uri()], self.requests  # nothing but the page itself


@pytest.fixture
def open_trainer(browser) -> Iterator[object]:  # noqa: F811
    opened: list[TrainerPage] = []

    def make(path: Path) -> TrainerPage:
        opened.append(TrainerPage(browser, path))
        return opened[-1]

    yield make
    for page in opened:
        page.close()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_page_shows_what_the_loop_computes(tmp_path, open_trainer, dtype):
    model, optimizer, batches = make_run(dtype)
    save_training_page(model, F.cross_entropy, batches, optimizer, 6, tmp_path / "page.html")
    again = python_loop(*make_run(dtype))
    page = open_trainer(tmp_path / "page.html")
    assert page.js("window.trainer.steps") == 6
    for k in (0, 1, 3, 5):
        state = page.state_at(k)
        loss, used, grads = again[k]
        assert state["step"] == k and state["loss"] == loss
        assert set(state["params"]) == {"conv.weight", "conv.bias", "fc.weight", "fc.bias"}
        for name, shown in state["params"].items():
            # Exactly equal: the page holds the bytes of the arrays (float32 or float64).
            np.testing.assert_array_equal(np.array(shown["value"], dtype), used[name])
            np.testing.assert_array_equal(np.array(shown["grad"], dtype), grads[name])
    final = page.js("window.trainer.final()")["params"]
    for name, param in model.named_parameters():
        np.testing.assert_array_equal(np.array(final[name]["value"], dtype), param.data)
    # What the page shows at the last step: the loss so far, the step counter, the filters' update.
    assert "step 5: loss" in page.page.inner_text("#loss-text")
    assert "update \u2212lr\u00b7dW" in page.page.inner_text("#mosaics")  # plain SGD: the update is -lr * dW


def test_controls_step_through_and_bad_steps_are_refused(tmp_path, open_trainer):
    model, optimizer, batches = make_run(momentum=0.9)
    save_training_page(model, F.cross_entropy, batches, optimizer, 6, tmp_path / "page.html")
    page = open_trainer(tmp_path / "page.html")
    page.page.click("#next")
    assert page.js("window.trainer.state().step") == 1
    page.page.keyboard.press("End")
    assert page.js("window.trainer.state().step") == 5
    page.page.keyboard.press("ArrowLeft")
    assert page.js("window.trainer.state().step") == 4
    page.page.click("#first")
    assert page.js("window.trainer.state().step") == 0
    for bad in ("6", "-1", "1.5", "'2'"):
        attempt = f"try {{ window.trainer.go({bad}); return null; }} catch (e) {{ return e.message; }}"
        message = page.js(f"(() => {{ {attempt} }})()")
        assert message is not None and "trainer.go: k must be an integer step from 0 to 5" in message
    assert page.js("window.trainer.state().step") == 0
    # With momentum the update is not -lr * dW, and the page says so.
    assert "not \u2212lr\u00b7dW" in page.page.inner_text("#mosaics")
    # Every filter is drawn: 4 mosaics (W, dW, update, W after) and one feature map per filter.
    assert page.js("document.querySelectorAll('#mosaics canvas:not(.scale canvas)').length") == 4
    assert page.js("document.querySelectorAll('#features canvas.map').length") == 1 + 2  # the image, 2 maps


def test_a_large_conv_weight_is_shown_as_heatmaps_and_stated(tmp_path, open_trainer):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(8, 64, 3), nn.Flatten(), nn.Linear(64 * 2 * 2, 2))  # conv: 4,608 elements
    optimizer = optim.SGD(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((2, 8, 4, 4)).astype(np.float32), rng.integers(0, 2, 2)) for _ in range(2)]
    save_training_page(model, F.cross_entropy, batches, optimizer, 2, tmp_path / "page.html")
    page = open_trainer(tmp_path / "page.html")
    state = page.state_at(1)
    assert 64 * 8 * 9 > FULL_ELEMENTS
    assert state["params"]["0.weight"] == {"value": None, "grad": None}
    assert len(state["params"]["0.bias"]["value"]) == 64
    assert "8-bit heatmaps" in page.page.inner_text("#param-table")
    # Hovering over a cell reads it, marked approximate.
    box = page.page.locator("#mosaics canvas").first.bounding_box()
    page.page.mouse.move(box["x"] + 4, box["y"] + 4)
    assert page.page.inner_text("#hover").startswith("0.weight[0, 0, 0, 0]")
    assert "\u2248" in page.page.inner_text("#hover")


def test_a_model_without_convolution_gets_the_loss_and_its_parameters(tmp_path, open_trainer):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3))
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((6, 4)).astype(np.float32), rng.integers(0, 3, 6)) for _ in range(3)]
    save_training_page(model, F.cross_entropy, batches, optimizer, 3, tmp_path / "page.html")
    page = open_trainer(tmp_path / "page.html")
    assert set(page.state_at(2)["params"]) == {"0.weight", "0.bias"}
    assert page.js("document.getElementById('features-panel').hidden")
    assert "This model has no convolution" in page.page.inner_text("#filter-help")


def test_learn_a_filter_recovers_the_sobel_kernel(tmp_path, open_trainer):
    result = run_example("learn_a_filter.py", "--out-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    final_error = float(re.search(r"max \|W - SOBEL\| = (\S+), last loss", result.stdout).group(1).rstrip(","))
    assert final_error < 1e-2
    within = int(re.search(r"within 0.01 of SOBEL after (\d+) steps", result.stdout).group(1))
    page = open_trainer(tmp_path / "learn_a_filter.html")
    steps = page.js("window.trainer.steps")
    assert within < steps
    sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]])
    learned = np.array(page.js("window.trainer.final()")["params"]["weight"]["value"])[0, 0]
    assert np.abs(learned - sobel).max() < 1e-2
    start = np.array(page.state_at(0)["params"]["weight"]["value"])[0, 0]
    assert np.abs(start - sobel).max() > 0.5  # it started far away


# ---------------------------------------------------------------------------
# tinygrad-cnn train --watch
# ---------------------------------------------------------------------------


@needs_fashion_mnist
def test_train_watch_records_the_first_steps_and_training_goes_on(tmp_path, open_trainer):
    common = ["train", "--model", "lenet", "--epochs", "1", "--batch-size", "32", "--limit-train", "160",
              "--limit-test", "32", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "plain")]) == 0
    assert main([*common, "--out", str(tmp_path / "watched"), "--watch", str(tmp_path / "w" / "watch.html"),
                 "--watch-steps", "3"]) == 0
    # Watching changes nothing in the run: the same weights at the end.
    plain = T.load_checkpoint(str(tmp_path / "plain" / T.CHECKPOINT_NAME))
    watched = T.load_checkpoint(str(tmp_path / "watched" / T.CHECKPOINT_NAME))
    for name, value in plain.model_state.items():
        np.testing.assert_array_equal(watched.model_state[name], value)
    page = open_trainer(tmp_path / "w" / "watch.html")
    assert page.js("window.trainer.steps") == 3  # of the epoch's 5
    state = page.state_at(2)
    assert np.array(state["params"]["conv1.weight"]["value"]).shape == (32, 1, 3, 3)
    assert state["params"]["conv2.weight"]["value"] is None  # 18,432 elements: heatmaps only
    assert page.js("document.querySelectorAll('#features canvas.map').length") == 1 + 32
    # Both convolutions are reachable; conv2's 64 filters are drawn from its heatmaps.
    assert page.js("[...document.querySelectorAll('#layer option')].map((o) => o.value)") == [
        "conv1.weight", "conv2.weight"]
    page.page.select_option("#layer", "conv2.weight")
    assert "conv2.weight: 64 filter(s) of 32 input channel(s)" in page.page.inner_text("#filter-help")
    mosaic = page.page.locator("#mosaics canvas").first
    box = mosaic.bounding_box()
    mosaic.hover(position={"x": box["width"] - 8, "y": box["height"] - 8})  # the last filter's bottom right
    assert page.page.inner_text("#hover").startswith("conv2.weight[63, 31, 2, 2]")

    # examples/conv1_filters.py (make demo): its "before" is the weights of the run's first step.
    sys.path.insert(0, str(REPO_ROOT / "examples"))
    try:
        import conv1_filters
    finally:
        sys.path.remove(str(REPO_ROOT / "examples"))
    checkpoint = str(tmp_path / "watched" / T.CHECKPOINT_NAME)
    assert conv1_filters.main(["--checkpoint", checkpoint, "--out", str(tmp_path / "conv1.png")]) == 0
    assert (tmp_path / "conv1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before, after = conv1_filters.conv1_before_and_after(checkpoint)
    np.testing.assert_array_equal(before, np.array(page.state_at(0)["params"]["conv1.weight"]["value"], np.float32))
    np.testing.assert_array_equal(after, watched.model_state["conv1.weight"])


@needs_fashion_mnist
def test_train_watch_shorter_run_writes_what_it_has(tmp_path, capsys, open_trainer):
    code = main(["train", "--model", "lenet", "--epochs", "1", "--batch-size", "64", "--limit-train", "128",
                 "--limit-test", "32", "--no-progress", "--out", str(tmp_path / "run"),
                 "--watch", str(tmp_path / "watch.html")])
    assert code == 0
    out = capsys.readouterr().out
    assert "the first epoch had only 2 of the 20 steps to record" in out
    assert f"wrote the first 2 steps to {tmp_path / 'watch.html'}" in out
    assert open_trainer(tmp_path / "watch.html").js("window.trainer.steps") == 2


@needs_fashion_mnist
def test_train_watch_keeps_the_steps_before_a_divergence(tmp_path, capsys, open_trainer):
    code = main(["train", "--model", "lenet", "--optimizer", "sgd", "--lr", "1e3", "--epochs", "1",
                 "--batch-size", "32", "--limit-train", "320", "--limit-test", "32", "--no-progress",
                 "--out", str(tmp_path / "run"), "--watch", str(tmp_path / "watch.html")])
    captured = capsys.readouterr()
    assert code == 3 and "training diverged" in captured.err
    recorded = int(re.search(r"the run stopped after (\d+) of the 20 steps", captured.out).group(1))
    assert recorded >= 1
    page = open_trainer(tmp_path / "watch.html")
    assert page.js("window.trainer.steps") == recorded
    losses = [page.state_at(k)["loss"] for k in range(recorded)]
    assert all(isinstance(loss, (int, float)) and math.isfinite(loss) for loss in losses), losses
    # "W after" of the last recorded step is the value the failed step started from: finite.
    final = page.js("window.trainer.final()")["params"]
    assert np.isfinite(np.array(final["conv1.weight"]["value"])).all()


def test_watch_steps_needs_watch(capsys):
    assert main(["train", "--watch-steps", "5"]) == 2
    assert "--watch-steps needs --watch F.html" in capsys.readouterr().err


@pytest.mark.parametrize(
    "watch, steps, status, words",
    [
        ("DIR", "20", 2, "--watch 'DIR' is a directory"),
        ("FILE/page.html", "20", 1, "cannot write --watch 'FILE/page.html': 'FILE' is a file"),  # an OS error
        ("page.html", "0", 2, "--watch-steps must be an integer >= 1, got 0"),
    ],
)
def test_train_watch_bad_arguments_fail_before_training(tmp_path, capsys, watch, steps, status, words):
    (tmp_path / "FILE").write_text("")
    watch = watch.replace("DIR", str(tmp_path)).replace("FILE", str(tmp_path / "FILE"))
    code = main(["train", "--epochs", "1", "--limit-train", "64", "--out", str(tmp_path / "run"), "--no-progress",
                 "--watch", watch, "--watch-steps", steps])
    assert code == status
    err = capsys.readouterr().err
    words = words.replace("DIR", str(tmp_path)).replace("FILE", str(tmp_path / "FILE"))
    assert err.startswith("tinygrad-cnn: error:") and words in err, err
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written
