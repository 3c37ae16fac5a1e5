"""The dataset a run trains on: loaded, limited and normalised."""

from __future__ import annotations

import numpy as np

from ..data import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    MNIST_MEAN,
    MNIST_STD,
    load_fashion_mnist,
    load_mnist,
    normalize,
    to_float_images,
)
from .config import DATASETS
from .errors import TrainingError

MNIST_CLASSES = tuple(str(digit) for digit in range(10))


def load_dataset(
    name: str = "fashion-mnist",
    data_dir: str | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test), images as normalised float32 (N, 1, 28, 28).

    Pixels are scaled to [0, 1], then shifted and scaled by the training set's
    mean and standard deviation, so inputs are centred near 0 with unit spread
    (unscaled inputs make the first layers learn slowly). With limit_train /
    limit_test only the first N images of each set are used.
    """
    try:
        if name == "fashion-mnist":
            x_train, y_train, x_test, y_test = load_fashion_mnist(data_dir)
            mean, std = FASHION_MNIST_MEAN, FASHION_MNIST_STD
        elif name == "mnist":
            if data_dir is None:
                raise TrainingError("the mnist dataset needs --data-dir DIR, a directory holding the MNIST IDX files")
            x_train, y_train, x_test, y_test = load_mnist(data_dir)
            mean, std = MNIST_MEAN, MNIST_STD
        else:
            raise TrainingError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    except FileNotFoundError as err:
        raise TrainingError(str(err)) from None
    except ValueError as err:  # a corrupt or mismatched IDX file
        raise TrainingError(f"cannot read the {name} files: {err}") from None
    if limit_train is not None:
        x_train, y_train = x_train[:limit_train], y_train[:limit_train]
    if limit_test is not None:
        x_test, y_test = x_test[:limit_test], y_test[:limit_test]
    x_train = normalize(to_float_images(x_train), mean, std)
    x_test = normalize(to_float_images(x_test), mean, std)
    return x_train, y_train, x_test, y_test


def class_names(dataset: str) -> tuple[str, ...]:
    """The names of the ten classes of a dataset."""
    return FASHION_MNIST_CLASSES if dataset == "fashion-mnist" else MNIST_CLASSES
