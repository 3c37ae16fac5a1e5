"""One pass over the training data."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .. import functional as F
from .. import optim
from ..data import DataLoader
from ..engine import Tensor
from ..nn import Module
from .progress import Progress


@dataclass
class EpochResult:
    loss: float  # mean cross-entropy per image
    accuracy: float  # fraction of images classified correctly
    seconds: float


def train_epoch(
    model: Module,
    optimizer: optim.Optimizer,
    loader: DataLoader,
    scheduler: optim.lr_scheduler.LRScheduler | None = None,
    progress: Progress | None = None,
) -> EpochResult:
    """One pass over the training data; returns the mean loss and accuracy.

    scheduler, if given, is stepped after every batch: its schedule counts
    batches (steps), not epochs.
    """
    model.train()
    start = time.perf_counter()
    total_loss = 0.0
    correct = 0
    seen = 0
    for images, labels in loader:
        logits = model(Tensor(images))
        loss = F.cross_entropy(logits, Tensor(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()

        n = len(labels)
        total_loss += loss.item() * n  # the loss is a batch mean: weight it by the batch size
        correct += int((logits.data.argmax(axis=1) == labels).sum())
        seen += n
        if progress is not None:
            progress.update(n, total_loss / seen, correct / seen)
    return EpochResult(total_loss / seen, correct / seen, time.perf_counter() - start)
