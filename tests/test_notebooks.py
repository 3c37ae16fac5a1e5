"""The notebooks of docs/notebooks run headless with a real kernel, and are committed without outputs.

Each notebook is executed with nbclient and an ipykernel kernel (the dev extra
installs both). The training notebook reads TINYGRAD_CNN_NOTEBOOK_STEPS to
train for a few steps only.
"""

from __future__ import annotations

import glob
import json
import os
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from tinygrad_cnn.data import FASHION_MNIST_DIR  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(REPO_ROOT, "docs", "notebooks", "*.ipynb")))
NAMES = [os.path.basename(path) for path in NOTEBOOKS]


def test_there_are_three_notebooks():
    assert NAMES == ["01_chain_rule.ipynb", "02_your_own_op.ipynb", "03_tiny_cnn_and_training.ipynb"]


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_with_outputs_cleared(name):
    book = nbformat.read(os.path.join(REPO_ROOT, "docs", "notebooks", name), as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: clear the outputs"


def kernel_for_this_python(directory) -> str:
    """A kernel spec running ipykernel in this very Python (the virtual environment), found first
    through JUPYTER_PATH, so that no other installed "python3" kernel is picked up."""
    name = "tinygrad-cnn-tests"
    spec = directory / "kernels" / name
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": name, "language": "python"}))
    return name


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR), reason="Fashion-MNIST is not installed")
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_without_errors(name, tmp_path, monkeypatch):
    if name == "03_tiny_cnn_and_training.ipynb":
        pytest.importorskip("matplotlib")
    monkeypatch.setenv("TINYGRAD_CNN_NOTEBOOK_STEPS", "20")
    monkeypatch.setenv("PYTHONPATH", REPO_ROOT)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    kernel = kernel_for_this_python(tmp_path / "jupyter")
    book = nbformat.read(os.path.join(REPO_ROOT, "docs", "notebooks", name), as_version=4)
    client = nbclient.NotebookClient(book, timeout=120, kernel_name=kernel,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()    # raises CellExecutionError, with the cell and its traceback, on any error
    outputs = [output for cell in book.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    if name == "01_chain_rule.ipynb":
        assert any("image/svg+xml" in output.get("data", {}) for output in outputs), "no drawing shown inline"
    if name == "03_tiny_cnn_and_training.ipynb":
        assert any("image/png" in output.get("data", {}) for output in outputs), "no loss plot shown"


def test_chain_rule_notebook_first_cell_holds_when_the_learner_sets_z_to_4(monkeypatch):
    """The notebook's "Try it" asks for z = 4: its first cell, changed that way, must still pass its check."""
    book = nbformat.read(os.path.join(REPO_ROOT, "docs", "notebooks", "01_chain_rule.ipynb"), as_version=4)
    first_code = next(cell for cell in book.cells if cell.cell_type == "code").source
    assert "z_value = -4.0" in first_code
    namespace: dict = {}
    exec(first_code.replace("z_value = -4.0", "z_value = 4.0"), namespace)  # the learner's edit
    assert namespace["f"].item() == 12.0 and namespace["x"].grad.item() == 4.0
    wrong = first_code.replace("z_value = -4.0", "z_value = 4.0").replace("f = q * z", "f = q * -z")
    with pytest.raises(AssertionError):
        exec(wrong, {})  # the cell's check is not vacuous
