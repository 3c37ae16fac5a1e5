"""docs/graduating_to_pytorch.md with PyTorch: its PyTorch blocks run, state dicts move both ways.

Skipped as a whole when PyTorch is not installed. The page's PyTorch blocks
are fenced as `text` (so the runnable-docs test works without PyTorch); here
they run, in page order with its python blocks, in one namespace.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from doc_blocks import fenced_blocks

torch = pytest.importorskip("torch")

import tinygrad_cnn as tg  # noqa: E402
from tinygrad_cnn.models import build_model  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(REPO_ROOT, "docs", "graduating_to_pytorch.md")


def test_the_page_runs_with_its_pytorch_blocks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open(PAGE, encoding="utf-8") as file:
        blocks = fenced_blocks(file.read())
    torch_blocks = [block for block in blocks if block.language == "text" and "torch" in block.code]
    assert len(torch_blocks) >= 4
    namespace: dict = {"__name__": "__main__"}
    for block in blocks:
        if block.language == "python" or block in torch_blocks:
            source = "\n" * (block.first_line - 1) + block.code
            exec(compile(source, PAGE, "exec"), namespace)


class TorchLeNet(torch.nn.Module):
    """tinygrad_cnn.models.LeNet written with PyTorch, with the same attribute names."""

    def __init__(self, batch_norm: bool = False) -> None:
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(32) if batch_norm else None
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(64) if batch_norm else None
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        if self.bn1 is not None:
            x = self.bn1(x)
        x = self.pool1(torch.relu(x))
        x = self.conv2(x)
        if self.bn2 is not None:
            x = self.bn2(x)
        x = self.pool2(torch.relu(x))
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


class TorchMLP(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(784, 256)
        self.fc2 = torch.nn.Linear(256, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


TORCH_MODELS = {"lenet": TorchLeNet, "lenet_bn": lambda: TorchLeNet(batch_norm=True), "mlp": TorchMLP}


@pytest.mark.parametrize("name", sorted(TORCH_MODELS))
def test_state_dicts_match_pytorch_and_move_both_ways(name):
    tg.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = build_model(name), TORCH_MODELS[name]()
    our_state, their_state = ours.state_dict(), theirs.state_dict()
    assert list(our_state) == list(their_state)
    assert {k: v.shape for k, v in our_state.items()} == {k: tuple(v.shape) for k, v in their_state.items()}

    images = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    ours.eval()
    theirs.eval()
    # ours -> PyTorch
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in our_state.items()})
    with torch.no_grad():
        assert np.allclose(ours(tg.Tensor(images)).data, theirs(torch.from_numpy(images)).numpy(), atol=1e-5)
    # PyTorch -> ours, from different weights
    torch.manual_seed(1)
    other = TORCH_MODELS[name]()
    other.eval()
    ours.load_state_dict({k: v.detach().numpy() for k, v in other.state_dict().items()})
    with torch.no_grad():
        assert np.allclose(ours(tg.Tensor(images)).data, other(torch.from_numpy(images)).numpy(), atol=1e-5)
