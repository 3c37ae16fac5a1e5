"""Ordinary user code of the library, type-checked by tests/test_typing.py with `mypy --strict`
(and run by the same test, so that it stays correct code).

Not a test module: pytest collects only files named test_*.py.
"""

from typing import Any

import numpy as np
import numpy.typing as npt

import tinygrad_cnn as tg
import tinygrad_cnn.functional as F
from tinygrad_cnn import nn

tg.manual_seed(0)

# Tensors, arithmetic and the backward pass.
x = tg.randn(2, 3, requires_grad=True)
w = tg.randn(3, 4, requires_grad=True)
y = x * 2 + 1
(x @ w).relu().sum().backward()
assert x.grad is not None and x.grad.shape == (2, 3)
row_sums = y.sum(dim=1, keepdim=True)
first_row = y[0]
column = y[:, 1]
shape: tuple[int, ...] = x.shape
total: float = float(y.sum())
t = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
z = tg.zeros(2, 2) + tg.ones(2, 2) * t - t / 2
as_array: npt.NDArray[Any] = z.numpy()

# A small CNN, trained for one step.
model = nn.Sequential(
    nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(4 * 4 * 4, 10),
)
images = tg.randn(8, 1, 8, 8)
labels = tg.tensor(np.arange(8) % 10)
opt = tg.optim.Adam(model.parameters(), lr=1e-3)
loss = F.cross_entropy(model(images), labels)
opt.zero_grad()
loss.backward()
opt.step()
loss_value: float = loss.item()
assert float(loss) == loss_value

# The functional forms of the layers.
kernel = tg.randn(2, 1, 3, 3, requires_grad=True)
features = F.conv2d(images, kernel, stride=1, padding=1)
pooled = F.max_pool2d(features, 2)
assert pooled.shape == (8, 2, 4, 4)

# Evaluation without recording a graph.
model.eval()
with tg.no_grad():
    predictions = model(images).argmax(dim=1)
assert not predictions.requires_grad
