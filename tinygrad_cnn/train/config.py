"""The settings of a training run, and the optimizer and learning-rate schedule they describe."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .. import optim
from ..models import DEFAULT_MODEL, MODELS
from .errors import TrainingError

DATASETS = ("fashion-mnist", "mnist")

# The learning rate each optimizer gets when none is given.
DEFAULT_LR = {"sgd": 0.05, "adam": 2e-3, "adamw": 2e-3, "rmsprop": 1e-3, "adagrad": 1e-2}
OPTIMIZERS = tuple(DEFAULT_LR)
SCHEDULES = ("cosine", "constant")


@dataclass
class TrainConfig:
    """Everything that decides the result of a training run."""

    dataset: str = "fashion-mnist"
    data_dir: str | None = None  # None: the default Fashion-MNIST location
    model: str = DEFAULT_MODEL
    epochs: int = 5
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float | None = None  # None: DEFAULT_LR[optimizer]
    momentum: float = 0.9  # SGD and RMSprop only
    weight_decay: float | None = None  # None: the optimizer's default (adamw 0.01, the others 0)
    schedule: str = "cosine"  # learning rate: cosine decay to 0 over the run, or constant
    seed: int = 0
    limit_train: int | None = None  # use only the first N training images
    limit_test: int | None = None  # use only the first N test images

    @property
    def learning_rate(self) -> float:
        return DEFAULT_LR[self.optimizer] if self.lr is None else self.lr

    def validate(self) -> None:
        """Raise TrainingError for settings that cannot work; the message names the command's option."""
        if self.dataset not in DATASETS:
            raise TrainingError(f"unknown dataset {self.dataset!r}; choose one of: {', '.join(DATASETS)}")
        if not isinstance(self.model, str) or self.model not in MODELS:
            raise TrainingError(f"unknown model {self.model!r}; choose one of: {', '.join(sorted(MODELS))}")
        if self.optimizer not in OPTIMIZERS:
            raise TrainingError(f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise TrainingError(f"unknown schedule {self.schedule!r}; choose one of: {', '.join(SCHEDULES)}")
        if not is_int(self.epochs) or self.epochs < 1:
            raise TrainingError(f"--epochs: the number of epochs must be an integer >= 1, got {self.epochs!r}")
        if not is_int(self.batch_size) or self.batch_size < 1:
            raise TrainingError(f"--batch-size: the batch size must be an integer >= 1, got {self.batch_size!r}")
        lr = self.learning_rate
        # `not lr > 0` is also true for NaN.
        if not is_number(lr) or not lr > 0 or math.isinf(lr):
            raise TrainingError(f"--lr: the learning rate must be a positive number, got {lr!r}")
        if not is_number(self.momentum) or not 0 <= self.momentum < 1:
            raise TrainingError(f"--momentum: the momentum must be in [0, 1), got {self.momentum!r}")
        decay = self.weight_decay
        # `not decay >= 0` is also true for NaN; inf would turn every weight into nan in one step.
        if decay is not None and (not is_number(decay) or not decay >= 0 or math.isinf(decay)):
            raise TrainingError(f"--weight-decay: the weight decay must be a finite number >= 0, got {decay!r}")
        if self.data_dir is not None and not isinstance(self.data_dir, str):
            raise TrainingError(f"--data-dir: the data directory must be a path, got {self.data_dir!r}")
        if not is_int(self.seed) or self.seed < 0:
            raise TrainingError(f"--seed: the seed must be an integer >= 0, got {self.seed!r}")
        for name in ("limit_train", "limit_test"):
            value = getattr(self, name)
            if value is not None and (not is_int(value) or value < 1):
                raise TrainingError(f"{name.replace('_', '-')} must be an integer >= 1, got {value!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from a dict (e.g. saved in a checkpoint); unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


def is_int(value: Any) -> bool:
    """A Python or numpy integer, not a bool (True is an int to Python, not to an option)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A real number (Python's or numpy's), not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def build_optimizer(config: TrainConfig, parameters: Iterable[Any]) -> optim.Optimizer:
    """The optimizer named in the config, over the given parameters."""
    params = list(parameters)
    lr = config.learning_rate
    name = config.optimizer
    if name == "adamw":
        decay = 0.01 if config.weight_decay is None else config.weight_decay
        return optim.AdamW(params, lr=lr, weight_decay=decay)
    decay = 0.0 if config.weight_decay is None else config.weight_decay
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=decay)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=config.momentum, weight_decay=decay)
    if name == "adagrad":
        return optim.Adagrad(params, lr=lr, weight_decay=decay)
    raise TrainingError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")


def build_scheduler(config: TrainConfig, optimizer: optim.Optimizer, total_steps: int,
                    first_step: int = 0) -> optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule of the config, counted in batches (None: constant).

    `--schedule cosine` is CosineAnnealingLR with T_max = the run's number of
    steps, stepped after every batch: lr(t) = lr * (1 + cos(pi * t / T)) / 2.
    first_step > 0 continues a run: the schedule starts from the configured lr
    (not from the lr of a restored optimizer state, which is that of the last
    step) and moves on to step first_step.
    """
    if config.schedule == "constant":
        return None
    for group in optimizer.param_groups:
        group["initial_lr"] = config.learning_rate
    return optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps, last_epoch=first_step - 1)
