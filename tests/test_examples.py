"""Quick runs of the example scripts with tiny settings: they must run and report sensibly."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from tinygrad_cnn.data import FASHION_MNIST_DIR

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(REPO_ROOT, "examples")

needs_fashion_mnist = pytest.mark.skipif(
    not os.path.isdir(FASHION_MNIST_DIR), reason="Fashion-MNIST is not installed"
)


def run_example(name: str, *args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, name), *args],
        capture_output=True, text=True, timeout=120, cwd=cwd or REPO_ROOT,
        env={**os.environ, "PYTHONPATH": REPO_ROOT},
    )


def test_single_conv_mse_checks_its_filter_gradient():
    result = run_example("single_conv_mse.py", "--steps", "10")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"autograd - finite difference\| = \S+ +-> OK", out), out
    assert re.search(r"autograd - by hand\| += \S+ +-> OK", out), out
    # Gradient descent lowers the error.
    errors = [float(value) for value in re.findall(r"step +\d+: E = ([0-9.]+)", out)]
    assert len(errors) >= 2 and errors[-1] < errors[0]


@needs_fashion_mnist
def test_binary_classifier_learns_two_classes():
    result = run_example("binary_classifier.py", "--epochs", "2", "--limit", "1000", "--batch-size", "32")
    assert result.returncode == 0, result.stderr
    accuracies = [float(value) for value in re.findall(r"test accuracy ([0-9.]+)", result.stdout)]
    assert len(accuracies) == 3  # before training and after each epoch
    assert accuracies[-1] > 0.8, result.stdout


@needs_fashion_mnist
def test_fashion_mnist_cnn_runs_an_epoch(tmp_path):
    weights = str(tmp_path / "weights.npz")
    result = run_example("fashion_mnist_cnn.py", "--epochs", "1", "--limit-train", "512", "--limit-test", "200",
                         "--save", weights, cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    match = re.search(r"epoch 1: .*test accuracy ([0-9.]+)", result.stdout)
    assert match, result.stdout
    assert float(match.group(1)) > 0.3  # far above chance (0.1) after 512 images
    assert os.path.exists(weights)


def test_tiny_cnn_prints_its_table_and_writes_its_drawings_and_page(tmp_path):
    result = run_example("tiny_cnn.py", "--out-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "MISMATCH" not in out
    assert out.count("by hand: ok") == 12  # every tensor, from input to loss
    assert "conv.weight (1, 1, 2, 2)" in out and "grad   [[1, -3.5], [-0.5, -3]]" in out
    assert "loss ()" in out and "value  0.6931" in out
    if shutil.which("dot") is None:
        assert "Graphviz `dot` not found" in out
        return
    for name in ("tiny_cnn_forward.svg", "tiny_cnn_backward.svg"):
        assert f"wrote {tmp_path / name}" in out
        assert (tmp_path / name).read_text().lstrip().startswith("<?xml")
    assert "dL/dW = x ⋆ g" in (tmp_path / "tiny_cnn_backward.svg").read_text()  # the filter's rule
    page = (tmp_path / "tiny_cnn_steps.html").read_text()
    assert '<script type="application/json" id="tape">' in page and "Content-Security-Policy" in page
