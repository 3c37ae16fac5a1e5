"""Learning-rate schedules: change each parameter group's lr as training goes on.

Call `scheduler.step()` once per epoch, after the epoch's `optimizer.step()`
calls. A scheduler counts epochs in `last_epoch` (0 right after it is made)
and sets `group["lr"]` to its schedule's value for that epoch, computed from
the group's starting lr (`group["initial_lr"]`, remembered when the
scheduler is made).
"""

from __future__ import annotations

import math
from typing import Any

from ..ops import as_int
from .optimizer import Optimizer, as_float_hyperparameter


class LRScheduler:
    """Base class: subclasses give `lr_at(base_lr, epoch)`, the learning rate at an epoch."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"{type(self).__name__}: param_groups[{i}] has no 'initial_lr'; "
                        "last_epoch >= 0 is for resuming, after loading the optimizer's state"
                    )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        # Move to the first epoch (0 for a fresh scheduler) and set its lr.
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        """The learning rate of each group at the current epoch."""
        return [self.lr_at(base_lr, self.last_epoch) for base_lr in self.base_lrs]

    def step(self) -> None:
        """Advance one epoch and set every group's lr."""
        self.last_epoch += 1
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = lrs

    def get_last_lr(self) -> list[float]:
        """The learning rates the last `step()` set, one per parameter group."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's settings and position (everything but the optimizer)."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what `state_dict()` saved."""
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """Multiply the learning rate by gamma every step_size epochs:

        lr(epoch) = base_lr * gamma ** (epoch // step_size)
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        step_size = as_int(step_size, "StepLR", "step_size")
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        gamma = as_float_hyperparameter(gamma, "StepLR", "gamma", positive=True)
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Follow half a cosine from base_lr down to eta_min over T_max epochs:

        lr(epoch) = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2

    Past T_max the cosine carries on, so the lr climbs back up; usually
    T_max is the number of epochs.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        T_max = as_int(T_max, "CosineAnnealingLR", "T_max")
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive integer, got {T_max!r}")
        eta_min = as_float_hyperparameter(eta_min, "CosineAnnealingLR", "eta_min")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        cosine = (1 + math.cos(math.pi * epoch / self.T_max)) / 2
        return self.eta_min + (base_lr - self.eta_min) * cosine


__all__ = ["CosineAnnealingLR", "LRScheduler", "StepLR"]
