"""Training a CNN on Fashion-MNIST, written out in plain code.

This is the loop `tinygrad-cnn train` runs (tinygrad_cnn/train/), without the
checkpoints, resuming, progress bars and error handling, so it can be read
top to bottom. The network is the command's default, `lenet` (see
tinygrad_cnn/models.py): two conv / ReLU / max-pool stages and two linear
layers.

Run:  python examples/fashion_mnist_cnn.py [--epochs 5] [--limit-train N] [--limit-test N] [--save weights.npz]
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

import tinygrad_cnn as tg
from tinygrad_cnn import functional as F
from tinygrad_cnn import optim
from tinygrad_cnn.data import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    DataLoader,
    load_fashion_mnist,
    normalize,
    to_float_images,
)
from tinygrad_cnn.models import build_model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet", help="lenet, lenet_bn or mlp (default lenet)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam's starting learning rate")
    parser.add_argument("--limit-train", type=int, default=None, help="use the first N training images")
    parser.add_argument("--limit-test", type=int, default=None, help="use the first N test images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, metavar="PATH", help="save the trained weights to PATH (.npz)")
    args = parser.parse_args(argv)

    # 1. Data: uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), scaled to [0, 1],
    #    then centred with the training set's mean and standard deviation.
    x_train, y_train, x_test, y_test = load_fashion_mnist()
    x_train, y_train = x_train[:args.limit_train], y_train[:args.limit_train]
    x_test, y_test = x_test[:args.limit_test], y_test[:args.limit_test]
    x_train = normalize(to_float_images(x_train), FASHION_MNIST_MEAN, FASHION_MNIST_STD)
    x_test = normalize(to_float_images(x_test), FASHION_MNIST_MEAN, FASHION_MNIST_STD)

    # 2. Model and optimizer. The seed fixes the initial weights, the
    #    shuffling (and dropout masks, if any): they all draw from tg's generator.
    tg.manual_seed(args.seed)
    model = build_model(args.model)
    print(model)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    loader = DataLoader(x_train, y_train, batch_size=args.batch_size, shuffle=True)
    total_steps = args.epochs * len(loader)
    step = 0

    for epoch in range(1, args.epochs + 1):
        # 3. One epoch of training.
        model.train()  # training mode (matters for dropout and batch norm layers)
        start = time.perf_counter()
        loss_sum, correct = 0.0, 0
        for images, labels in loader:
            # Cosine learning-rate decay, from lr down to 0 over the whole run.
            for group in optimizer.param_groups:
                group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
            logits = model(tg.Tensor(images))  # (batch, 10), graph recorded
            loss = F.cross_entropy(logits, tg.Tensor(labels))  # mean over the batch
            optimizer.zero_grad()  # gradients add up: forget the last step's
            loss.backward()  # dloss/dparameter for every parameter
            optimizer.step()  # update the parameters
            step += 1
            loss_sum += loss.item() * len(labels)
            correct += int((logits.numpy().argmax(axis=1) == labels).sum())
        seconds = time.perf_counter() - start

        # 4. Evaluation: eval mode (no dropout, batch norm uses running statistics),
        #    no graph (no_grad), in batches to bound memory.
        model.eval()
        predictions = []
        with tg.no_grad():
            for i in range(0, len(x_test), 500):
                predictions.append(model(tg.Tensor(x_test[i:i + 500])).numpy().argmax(axis=1))
        test_accuracy = float((np.concatenate(predictions) == y_test).mean())
        print(f"epoch {epoch}: train loss {loss_sum / len(x_train):.4f}, train accuracy "
              f"{correct / len(x_train):.4f}, test accuracy {test_accuracy:.4f} "
              f"({seconds:.1f} s, {len(x_train) / seconds:.0f} images/s)")

    # 5. Per-class accuracy on the test set.
    predicted = np.concatenate(predictions)
    for k, name in enumerate(FASHION_MNIST_CLASSES):
        mask = y_test == k
        if mask.any():
            print(f"  {name:<12} {float((predicted[mask] == k).mean()):.3f}")

    # 6. Save the weights; model.load_state_dict(dict(np.load(path))) restores them.
    if args.save is not None:
        np.savez(args.save, **model.state_dict())
        print(f"saved the weights to {args.save}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
