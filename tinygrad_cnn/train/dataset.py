"""The dataset a run trains on: loaded, limited and normalised."""

from __future__ import annotations

import numpy as np

from ..data import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    MNIST_MEAN,
    MNIST_STD,
    load_fashion_mnist,
    load_mnist,
    normalize,
    to_float_images,
)
from .config import DATASETS, is_int
from .errors import TrainingError

MNIST_CLASSES = tuple(str(digit) for digit in range(10))

# (height, width) of the images every model of tinygrad_cnn.models takes.
IMAGE_SIZE = (28, 28)


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

    TrainingError (one line) for a missing, damaged or unsuitable dataset:
    unreadable IDX files, images that are not 28x28 (the size the models
    take), an empty set, or a limit that is not an integer >= 1.
    """
    for option, value in (("limit-train", limit_train), ("limit-test", limit_test)):
        if value is not None and (not is_int(value) or value < 1):
            raise TrainingError(f"--{option} must be an integer >= 1, got {value!r}")
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
        raise TrainingError(_not_found_message(name, data_dir, err)) from None
    except ValueError as err:  # a corrupt or mismatched IDX file
        raise TrainingError(f"--data-dir {data_dir or FASHION_MNIST_DIR}: cannot read the {name} files: "
                            f"{' '.join(str(err).split())}") from None
    where = f"--data-dir {data_dir or FASHION_MNIST_DIR}"
    for kind, images in (("training", x_train), ("test", x_test)):
        if images.shape[1:] != IMAGE_SIZE:
            height, width = images.shape[1:]
            raise TrainingError(f"the {kind} images in {where} are {height}x{width}; the models take "
                                f"{IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} images (MNIST, Fashion-MNIST)")
        if len(images) == 0:
            raise TrainingError(f"the {kind} set in {where} has no images")
    if limit_train is not None:
        x_train, y_train = x_train[:limit_train], y_train[:limit_train]
    if limit_test is not None:
        x_test, y_test = x_test[:limit_test], y_test[:limit_test]
    x_train = normalize(to_float_images(x_train), mean, std)
    x_test = normalize(to_float_images(x_test), mean, std)
    return x_train, y_train, x_test, y_test


def _not_found_message(name: str, data_dir: str | None, err: FileNotFoundError) -> str:
    """The loader's "not found" message with the command's fix (--data-dir) in place of the library's (root=)."""
    # The loaders say "<dataset> not found in <dir> (missing: ...); <how to fix it in Python>".
    found = str(err).split(";")[0]
    if name == "fashion-mnist":
        fix = "install it with `apt-get install dataset-fashion-mnist`, or pass --data-dir DIR"
    else:
        fix = "copy the four MNIST IDX files there, or pass another --data-dir"
    return f"--data-dir {data_dir or FASHION_MNIST_DIR}: {found}; {fix}"


def class_names(dataset: str) -> tuple[str, ...]:
    """The names of the ten classes of a dataset."""
    return FASHION_MNIST_CLASSES if dataset == "fashion-mnist" else MNIST_CLASSES
