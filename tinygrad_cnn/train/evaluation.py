"""Testing a model: predictions, loss and accuracy, the confusion matrix, a saved model's score."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..grad_mode import no_grad
from ..models import MODELS, build_model
from ..nn import Module
from ..tensor import Tensor
from .checkpoint import load_checkpoint, load_model_state
from .config import TrainConfig
from .dataset import load_dataset
from .errors import TrainingError

# Test images per forward pass during evaluation (no graph is kept, so this
# only bounds the size of the temporaries).
EVAL_BATCH_SIZE = 500


def predict(model: Module, images: np.ndarray, batch_size: int = EVAL_BATCH_SIZE) -> np.ndarray:
    """The logits of every image, computed in batches, in eval mode, without a graph."""
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with no_grad():
            for start in range(0, len(images), batch_size):
                outputs.append(model(Tensor(images[start:start + batch_size])).data)
    finally:
        model.train(was_training)
    return np.concatenate(outputs)


def evaluate(model: Module, images: np.ndarray, labels: np.ndarray,
             batch_size: int = EVAL_BATCH_SIZE) -> tuple[float, float, np.ndarray]:
    """(mean cross-entropy, accuracy, predicted classes) on a labelled set."""
    logits = predict(model, images, batch_size)
    loss = F.cross_entropy(Tensor(logits), Tensor(labels)).item()
    predictions = logits.argmax(axis=1)
    accuracy = float((predictions == labels).mean())
    return loss, accuracy, predictions


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """counts[i, j] = how many images of true class i were predicted as class j."""
    flat = labels.astype(np.int64) * num_classes + predictions.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def evaluate_checkpoint(path: str, data_dir: str | None = None, limit_test: int | None = None,
                        model_name: str | None = None) -> tuple[float, float, np.ndarray, TrainConfig]:
    """(test loss, test accuracy, confusion matrix, config) of a saved model on its dataset's test set."""
    checkpoint = load_checkpoint(path)
    config = checkpoint.config
    if data_dir is not None:
        config.data_dir = data_dir
    name = model_name if model_name is not None else config.model
    if name not in MODELS:
        raise TrainingError(f"unknown model {name!r}; choose one of: {', '.join(sorted(MODELS))}")
    model = build_model(name)
    load_model_state(model, checkpoint.model_state, name, path)
    _, _, x_test, y_test = load_dataset(config.dataset, config.data_dir, limit_train=1, limit_test=limit_test)
    loss, accuracy, predictions = evaluate(model, x_test, y_test)
    return loss, accuracy, confusion_matrix(y_test, predictions), config


def format_confusion_matrix(matrix: np.ndarray, names: tuple[str, ...]) -> str:
    """A text table: rows are true classes, columns predicted classes, plus per-class accuracy."""
    label_width = max(len(name) for name in names) + 4
    cell = max(5, len(str(matrix.max())) + 1)
    lines = ["confusion matrix (rows: true class, columns: predicted class)"]
    header = " " * label_width + "".join(f"{j:>{cell}}" for j in range(len(names))) + "   accuracy"
    lines.append(header)
    for i, name in enumerate(names):
        counts = "".join(f"{count:>{cell}}" for count in matrix[i])
        total = matrix[i].sum()
        accuracy = f"{matrix[i, i] / total:.3f}" if total else "  -"
        lines.append(f"{i:>2} {name:<{label_width - 3}}{counts}   {accuracy:>8}")
    return "\n".join(lines)
