"""A first CNN classifier: two classes, one conv layer, sigmoids and binary cross-entropy.

    image (N, 1, 28, 28)
      -> conv 1->4, 5x5, stride 2          (N, 4, 12, 12)
      -> sigmoid
      -> flatten, dense 576 -> 1
      -> sigmoid                           p = P(second class | image)
    loss = binary cross-entropy  -[y log p + (1 - y) log(1 - p)], averaged over the batch

By default it separates two Fashion-MNIST classes (Sandal vs Sneaker); with
--mnist-dir DIR it separates the MNIST digits 0 and 1 instead.

Run:  python examples/binary_classifier.py [--classes 5 7] [--epochs 3] [--limit N]
      python examples/binary_classifier.py --mnist-dir path/to/mnist
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import tinygrad_cnn as tg
from tinygrad_cnn import functional as F
from tinygrad_cnn import nn, optim
from tinygrad_cnn.data import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    MNIST_MEAN,
    MNIST_STD,
    DataLoader,
    load_fashion_mnist,
    load_mnist,
    normalize,
    to_float_images,
)


class BinaryCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, kernel_size=5, stride=2)  # 28x28 -> 12x12
        self.fc = nn.Linear(4 * 12 * 12, 1)

    def forward(self, x: tg.Tensor) -> tg.Tensor:
        x = F.sigmoid(self.conv(x))
        x = x.reshape(x.shape[0], -1)
        return F.sigmoid(self.fc(x)).reshape(-1)  # (N,): the probability of the second class


def two_classes(images: np.ndarray, labels: np.ndarray, first: int, second: int,
                limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The images of the two classes, with labels 0 (first) and 1 (second)."""
    keep = (labels == first) | (labels == second)
    images, labels = images[keep], labels[keep]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images, (labels == second).astype(np.float32)


def accuracy(model: nn.Module, images: np.ndarray, targets: np.ndarray) -> float:
    model.eval()
    with tg.no_grad():
        p = model(tg.Tensor(images)).numpy()
    model.train()
    return float(((p > 0.5) == (targets == 1)).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, nargs=2, default=(5, 7), metavar=("A", "B"),
                        help="the two Fashion-MNIST classes (default 5 7: Sandal vs Sneaker)")
    parser.add_argument("--mnist-dir", default=None, help="use MNIST digits 0 vs 1 from this directory instead")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (default 0.01)")
    parser.add_argument("--limit", type=int, default=None, help="use at most N training and N test images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.mnist_dir is not None:
        x_train, y_train, x_test, y_test = load_mnist(args.mnist_dir)
        first, second = 0, 1
        names = ("digit 0", "digit 1")
        mean, std = MNIST_MEAN, MNIST_STD
    else:
        x_train, y_train, x_test, y_test = load_fashion_mnist()
        first, second = args.classes
        names = (FASHION_MNIST_CLASSES[first], FASHION_MNIST_CLASSES[second])
        mean, std = FASHION_MNIST_MEAN, FASHION_MNIST_STD
    x_train, t_train = two_classes(x_train, y_train, first, second, args.limit)
    x_test, t_test = two_classes(x_test, y_test, first, second, args.limit)
    x_train = normalize(to_float_images(x_train), mean, std)
    x_test = normalize(to_float_images(x_test), mean, std)
    print(f"{names[0]} (label 0) vs {names[1]} (label 1): {len(x_train)} training, {len(x_test)} test images")

    tg.manual_seed(args.seed)
    model = BinaryCNN()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(x_train, t_train, batch_size=args.batch_size, shuffle=True)
    print(f"before training: test accuracy {accuracy(model, x_test, t_test):.4f}")
    for epoch in range(1, args.epochs + 1):
        total = 0.0
        for images, targets in loader:
            p = model(tg.Tensor(images))
            loss = F.binary_cross_entropy(p, tg.Tensor(targets))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(targets)
        print(f"epoch {epoch}: training loss {total / len(x_train):.4f}, "
              f"test accuracy {accuracy(model, x_test, t_test):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
