"""One pass over the training data."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .. import functional as F
from .. import optim
from ..data import DataLoader
from ..nn import Module
from ..tensor import Tensor
from .errors import DivergenceError
from .progress import Progress

if TYPE_CHECKING:
    from ..viz.training_page import TrainingRecorder


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
    epoch: int | None = None,
    watch: TrainingRecorder | None = None,
) -> EpochResult:
    """One pass over the training data; returns the mean loss and accuracy.

    scheduler, if given, is stepped after every batch: its schedule counts
    batches (steps), not epochs.

    The divergence guard: a loss that is nan or inf stops the epoch before
    its backward pass and update, and so does a parameter that the update
    made nan or inf, with a DivergenceError naming the step (epoch is the
    number the message gives; the caller's checkpoints stay as they were).

    watch, if given, records the steps for the training page (`train --watch`):
    it is called before each forward pass and after each update.
    """
    model.train()
    start = time.perf_counter()
    total_loss = 0.0
    correct = 0
    seen = 0
    for step, (images, labels) in enumerate(loader, start=1):
        if watch is not None:
            watch.before_step()
        logits = model(Tensor(images))
        loss = F.cross_entropy(logits, Tensor(labels))
        loss_value = loss.item()
        if not math.isfinite(loss_value):
            raise _diverged(f"the loss is {loss_value}", optimizer, epoch, step, len(loader))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        broken = first_non_finite_parameter(model)
        if broken is not None:
            raise _diverged(f"{broken} became nan or inf in the update", optimizer, epoch, step, len(loader))
        if watch is not None:
            watch.after_step(loss)
        if scheduler is not None:
            scheduler.step()

        n = len(labels)
        total_loss += loss_value * n  # the loss is a batch mean: weight it by the batch size
        correct += int((logits.data.argmax(axis=1) == labels).sum())
        seen += n
        if progress is not None:
            progress.update(n, total_loss / seen, correct / seen)
    return EpochResult(total_loss / seen, correct / seen, time.perf_counter() - start)


def first_non_finite_parameter(model: Module) -> str | None:
    """The name of the first parameter holding a nan or inf, or None."""
    for name, param in model.named_parameters():
        if not np.isfinite(param.data).all():
            return name
    return None


def _diverged(what: str, optimizer: optim.Optimizer, epoch: int | None, step: int, steps: int) -> DivergenceError:
    lr = optimizer.param_groups[0]["lr"]
    where = f"epoch {epoch}, step {step}/{steps}" if epoch is not None else f"step {step}/{steps}"
    return DivergenceError(f"training diverged at {where}: {what} (learning rate {lr:g} at this step); "
                           "try a lower learning rate (--lr)", epoch=epoch, step=step)
