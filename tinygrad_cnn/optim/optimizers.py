"""SGD, Adam, AdamW, RMSprop and Adagrad, with PyTorch's exact update rules.

Each optimizer gives `_init_state` (what it remembers per parameter, as
arrays allocated once) and `_update`, which changes the parameter's array in
place with whole-array numpy operations. In the comments, p is the parameter,
g its gradient, t the step count (1 on the first step), lr the learning rate
and lambda the weight decay. The rules are written out as math in
docs/nn_and_optim.md.

Weight decay: SGD, Adam, RMSprop and Adagrad add lambda * p to the gradient
(an L2 penalty lambda/2 * |p|^2 in the loss); AdamW instead shrinks p
directly, p <- p * (1 - lr * lambda), outside the adaptive scaling.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import Optimizer, as_flag, as_float_hyperparameter


def _add_weight_decay(grad: np.ndarray, param: np.ndarray, weight_decay: float) -> np.ndarray:
    """g + lambda * p, as a new array (the parameter's .grad is left alone)."""
    if weight_decay == 0:
        return grad
    return grad + weight_decay * param


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum (heavy ball or Nesterov).

        g <- g + lambda * p                      (weight_decay)
        b <- g on the first step, then b <- momentum * b + (1 - dampening) * g
        g <- g + momentum * b  (nesterov)   or   g <- b
        p <- p - lr * g
    """

    def __init__(self, params: Iterable[Any], lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                        weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _check_settings(self, group: dict[str, Any]) -> None:
        super()._check_settings(group)
        group["momentum"] = as_float_hyperparameter(group["momentum"], "SGD", "momentum")
        group["dampening"] = as_float_hyperparameter(group["dampening"], "SGD", "dampening")
        group["nesterov"] = as_flag(group["nesterov"], "SGD", "nesterov")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"SGD: nesterov=True needs momentum > 0 and dampening = 0, "
                f"got momentum={group['momentum']}, dampening={group['dampening']}"
            )

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        # No buffer until the first step: it starts as a copy of the first gradient.
        return {"momentum_buffer": None}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        momentum = group["momentum"]
        grad = _add_weight_decay(grad, param, group["weight_decay"])
        if momentum != 0:
            buf = state["momentum_buffer"]
            if buf is None:
                buf = grad.copy()
                state["momentum_buffer"] = buf
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * grad
            if group["nesterov"]:
                # Look ahead: step along the gradient plus the updated velocity.
                grad = grad + momentum * buf
            else:
                grad = buf
        param -= group["lr"] * grad


def _check_betas(op: str, betas: Any) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{op}: betas must be a pair (beta1, beta2), got {betas!r}")
    beta1, beta2 = (as_float_hyperparameter(beta, op, f"betas[{i}]", below_one=True) for i, beta in enumerate(betas))
    return beta1, beta2


class Adam(Optimizer):
    """Adam: steps scaled by running averages of the gradient and of its square.

        g <- g + lambda * p                              (weight_decay)
        m <- beta1 * m + (1 - beta1) * g                 (first moment)
        v <- beta2 * v + (1 - beta2) * g^2               (second moment)
        v_max <- max(v_max, v); use v_max for v          (amsgrad)
        p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    The factors 1 - beta^t undo the bias of m and v toward their zero start.
    """

    # AdamW sets this: weight decay shrinks p directly instead of joining g.
    _decoupled_weight_decay = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False) -> None:
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def _check_settings(self, group: dict[str, Any]) -> None:
        super()._check_settings(group)
        group["betas"] = _check_betas(self._op, group["betas"])
        group["amsgrad"] = as_flag(group["amsgrad"], self._op, "amsgrad")

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = {"step": 0, "exp_avg": np.zeros_like(param.data), "exp_avg_sq": np.zeros_like(param.data)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(param.data)
        return state

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        state["step"] += 1
        step = state["step"]
        if self._decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            grad = _add_weight_decay(grad, param, weight_decay)

        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        # m <- beta1 m + (1 - beta1) g, written as m + (1 - beta1)(g - m).
        exp_avg += (1 - beta1) * (grad - exp_avg)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad

        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        if group["amsgrad"]:
            if "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = np.zeros_like(param)
            np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            second_moment = state["max_exp_avg_sq"]
        else:
            second_moment = exp_avg_sq
        denom = np.sqrt(second_moment) / bias_correction2**0.5
        denom += eps
        param -= step_size * (exp_avg / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter):

        p <- p * (1 - lr * lambda)     then the Adam step without weight decay in g.

    With plain Adam, weight decay passes through the adaptive scaling and
    large-gradient weights are hardly decayed; here every weight shrinks by
    the same factor.
    """

    _decoupled_weight_decay = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root mean square of recent gradients.

        g <- g + lambda * p                                  (weight_decay)
        s <- alpha * s + (1 - alpha) * g^2
        centered:  a <- alpha * a + (1 - alpha) * g,   d = sqrt(s - a^2) + eps
        otherwise: d = sqrt(s) + eps
        momentum > 0:  b <- momentum * b + g / d,   p <- p - lr * b
        otherwise:     p <- p - lr * g / d
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered)
        super().__init__(params, defaults)

    def _check_settings(self, group: dict[str, Any]) -> None:
        super()._check_settings(group)
        group["alpha"] = as_float_hyperparameter(group["alpha"], "RMSprop", "alpha", at_most_one=True)
        group["momentum"] = as_float_hyperparameter(group["momentum"], "RMSprop", "momentum")
        group["centered"] = as_flag(group["centered"], "RMSprop", "centered")

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state = {"step": 0, "square_avg": np.zeros_like(param.data)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(param.data)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(param.data)
        return state

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        alpha, eps, momentum = group["alpha"], group["eps"], group["momentum"]
        state["step"] += 1
        grad = _add_weight_decay(grad, param, group["weight_decay"])

        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:
            # Subtracting the squared mean gradient gives a variance estimate.
            grad_avg = state.setdefault("grad_avg", np.zeros_like(param))
            grad_avg += (1 - alpha) * (grad - grad_avg)
            avg = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = np.sqrt(square_avg)
        avg += eps

        if momentum > 0:
            buf = state.setdefault("momentum_buffer", np.zeros_like(param))
            buf *= momentum
            buf += grad / avg
            param -= group["lr"] * buf
        else:
            param -= group["lr"] * (grad / avg)


class Adagrad(Optimizer):
    """Adagrad: each weight's step shrinks with the sum of its squared gradients so far.

        g <- g + lambda * p                          (weight_decay)
        lr_t = lr / (1 + (t - 1) * lr_decay)
        s <- s + g^2                                 (s starts at initial_accumulator_value)
        p <- p - lr_t * g / (sqrt(s) + eps)
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps)
        super().__init__(params, defaults)

    def _check_settings(self, group: dict[str, Any]) -> None:
        super()._check_settings(group)
        for name in ("lr_decay", "initial_accumulator_value"):
            group[name] = as_float_hyperparameter(group[name], "Adagrad", name)

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        total = np.full_like(param.data, group["initial_accumulator_value"])
        return {"step": 0, "sum": total}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        state["step"] += 1
        grad = _add_weight_decay(grad, param, group["weight_decay"])
        lr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += grad * grad
        std = np.sqrt(state["sum"])
        std += group["eps"]
        param -= lr * (grad / std)
