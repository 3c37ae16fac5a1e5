"""Ready-made networks for 28x28 grey-scale images (MNIST, Fashion-MNIST).

`build_model(name)` makes a fresh, randomly initialised network by name:

* ``lenet`` (the default of the training command): the classic small CNN
  learners write first
      conv 1->32 3x3 pad 1, ReLU, max-pool 2      28x28 -> 14x14
      conv 32->64 3x3 pad 1, ReLU, max-pool 2     14x14 -> 7x7
      flatten, linear 3136->128, ReLU, linear 128->10
* ``lenet_bn``: the same network with batch normalisation after each
  convolution (which keeps the inputs of each layer centred and scaled while
  the weights change).
* ``mlp``: no convolutions, for comparison: flatten, linear 784->256, ReLU,
  linear 256->10.

Every network maps a batch of images (N, 1, 28, 28) to logits (N, 10); the
loss (cross-entropy) is applied by the training loop, not by the model.
"""

from __future__ import annotations

from collections.abc import Callable

from . import functional as F
from . import nn
from .tensor import Tensor

NUM_CLASSES = 10


class LeNet(nn.Module):
    """Two conv/pool stages and two linear layers (about 420,000 parameters).

    batch_norm: add BatchNorm2d after each convolution (then the convolution
        needs no bias: the batch norm's shift takes its place).
    dropout: the probability of zeroing an activation before each linear layer
        (0 turns dropout off).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = NUM_CLASSES, batch_norm: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, kernel_size=3, padding=1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(32) if batch_norm else None
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(64) if batch_norm else None
        self.pool2 = nn.MaxPool2d(2)
        self.drop1 = nn.Dropout(dropout) if dropout > 0 else None
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.drop2 = nn.Dropout(dropout) if dropout > 0 else None
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        if self.bn1 is not None:
            x = self.bn1(x)
        x = self.pool1(F.relu(x))  # (N, 32, 14, 14)
        x = self.conv2(x)
        if self.bn2 is not None:
            x = self.bn2(x)
        x = self.pool2(F.relu(x))  # (N, 64, 7, 7)
        x = x.reshape(x.shape[0], -1)  # flatten: (N, 3136)
        if self.drop1 is not None:
            x = self.drop1(x)
        x = F.relu(self.fc1(x))
        if self.drop2 is not None:
            x = self.drop2(x)
        return self.fc2(x)


class MLP(nn.Module):
    """A multi-layer perceptron on the flattened image: 784 -> hidden -> 10."""

    def __init__(self, in_features: int = 28 * 28, hidden: int = 256, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = x.reshape(x.shape[0], -1)
        return self.fc2(F.relu(self.fc1(x)))


def _lenet() -> nn.Module:
    return LeNet()


def _lenet_bn() -> nn.Module:
    return LeNet(batch_norm=True)


def _mlp() -> nn.Module:
    return MLP()


# name -> a function making a fresh network (random weights from the
# library's generator, so `manual_seed` fixes them).
MODELS: dict[str, Callable[[], nn.Module]] = {
    "lenet": _lenet,
    "lenet_bn": _lenet_bn,
    "mlp": _mlp,
}

DEFAULT_MODEL = "lenet"


def build_model(name: str) -> nn.Module:
    """A new network by name (see `MODELS`); unknown names raise ValueError."""
    if name not in MODELS:
        known = ", ".join(sorted(MODELS))
        raise ValueError(f"build_model: unknown model {name!r}; known models: {known}")
    return MODELS[name]()
