"""Stateless neural-network functions, used as `from tinygrad_cnn import functional as F`.

The names, argument order and defaults follow `torch.nn.functional`; an
axis is PyTorch's `dim=` or numpy's `axis=` (either one).

* Layers: `linear`, `batch_norm`, `dropout`, and the convolution and pooling
  ops re-exported from `tinygrad_cnn.conv` (`conv2d`, `conv_transpose2d`,
  `max_pool2d`, `avg_pool2d`, `adaptive_avg_pool2d`).
* Activations: `relu`, `sigmoid`, `tanh`, `leaky_relu`, `softplus`,
  `softmax`, `log_softmax`.
* Losses: `cross_entropy`, `nll_loss`, `binary_cross_entropy`,
  `binary_cross_entropy_with_logits`, `mse_loss`, each with
  `reduction='mean' | 'sum' | 'none'`.

Most functions are compositions of the primitive ops in `ops.py`, so their
gradients (and second derivatives) come from the chain rule for free. A few
are primitives of their own (`Function` subclasses), either for speed
(cross-entropy, batch normalisation, leaky ReLU) or to match PyTorch's
gradient exactly (binary cross-entropy on probabilities). Their VJPs are
written with Tensor ops, so they can be differentiated again.

The math behind every function is in docs/activations_and_losses.md and
docs/normalization_and_dropout.md.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import ops
from .conv import adaptive_avg_pool2d, avg_pool2d, conv2d, conv_transpose2d, max_pool2d
from .creation import get_rng
from .float_errors import quiet, quietly
from .function import Function, trust_forward
from .grad_mode import is_grad_enabled
from .ops import (
    as_number,
    axis_arg,
    check_float,
    constant,
    depends_on,
    maximum,
    normalize_axes,
    promote_floats,
    sigmoid,
    tanh,
)
from .tensor import Tensor
from .vjp_rule import VjpRule

__all__ = [
    "adaptive_avg_pool2d", "avg_pool2d", "batch_norm", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "conv2d", "conv_transpose2d", "cross_entropy", "dropout", "leaky_relu", "linear", "log_softmax", "max_pool2d",
    "mse_loss", "nll_loss", "relu", "sigmoid", "softmax", "softplus", "tanh",
]

_REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------------------
# Argument checking
# ---------------------------------------------------------------------------


def _check_float_tensor(x: Any, name: str, op: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(x).__name__}")
    check_float(x, op, name)


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of 'mean', 'sum', 'none', got {reduction!r}")


def _reduce(loss: Tensor, reduction: str, count: float | None = None) -> Tensor:
    """Apply the reduction to a tensor of per-element losses.

    'mean' divides by `count` when given (cross-entropy with ignored targets
    averages over the counted ones only, a weighted loss by the sum of the
    weights), else by the number of elements.
    """
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    if count == 0:
        # Every target ignored: the mean of nothing is nan, as in PyTorch, but
        # the gradient must be 0, not 0/0 = nan (one such batch would turn
        # every weight into nan). Adding a constant nan leaves the gradient
        # of `total`, which is 0 for ignored targets, as it is.
        return total + constant(np.array(np.nan, dtype=total.dtype))
    return total / (loss.numel() if count is None else count)


def _float_target(target: Any, input: Tensor, op: str) -> tuple[Tensor, Tensor]:
    """The input and a target of the same shape, as float Tensors of one dtype.

    The target is taken as the other operand of `input - target` would be:
    a float Tensor or numpy array keeps its dtype, and two float dtypes
    promote to the wider (float32 with float64 gives float64; each gradient
    comes back in its tensor's own dtype). Lists and Python numbers, and
    integer or bool targets (0/1 labels), take the input's dtype.
    """
    if not isinstance(target, Tensor):
        array = np.asarray(target)
        if not (isinstance(target, (np.ndarray, np.generic)) and array.dtype.kind == "f"):
            array = np.asarray(target, dtype=input.dtype)
        target = constant(array)
    if target.shape != input.shape:
        raise ValueError(
            f"{op}: target shape {target.shape} does not match input shape {input.shape}; they must be equal"
        )
    if target.dtype.kind != "f":
        target = target.astype(input.dtype)
    input, target = promote_floats(input, target)
    return input, target


def _check_weight(weight: Any, input: Tensor, name: str, op: str) -> Tensor:
    """A loss weight that broadcasts to the input's shape without changing it."""
    if not isinstance(weight, Tensor):
        weight = constant(np.asarray(weight, dtype=input.dtype))
    try:
        fits = np.broadcast_shapes(weight.shape, input.shape) == input.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{op}: {name} of shape {weight.shape} cannot be broadcast to the input shape {input.shape}")
    return weight


def _class_target(target: Any, input: Tensor, ignore_index: int, op: str) -> np.ndarray:
    """Check integer class targets against logits (or log-probabilities) of shape (N, C, d1, ...)."""
    if input.ndim < 2:
        raise ValueError(
            f"{op}: input must have shape (N, C) or (N, C, d1, ...), got {input.shape}; "
            "for a single sample add a batch axis: input.reshape(1, -1)"
        )
    array = target.data if isinstance(target, Tensor) else np.asarray(target)
    if array.dtype.kind not in "iu":
        raise ValueError(
            f"{op}: target must hold integer class indices, got dtype {array.dtype} "
            "(convert with target.astype(np.int64))"
        )
    expected = (input.shape[0],) + input.shape[2:]
    if array.shape != expected:
        raise ValueError(
            f"{op}: target shape {array.shape} does not match input shape {input.shape}; expected {expected}"
        )
    num_classes = input.shape[1]
    counted = array != ignore_index
    outside = counted & ((array < 0) | (array >= num_classes))
    if outside.any():
        bad = array[outside].flat[0]
        raise ValueError(f"{op}: target value {bad} is out of range for C={num_classes} classes (valid: 0 to "
                         f"{num_classes - 1}, or ignore_index={ignore_index})")
    return array


def _one_hot(target: np.ndarray, num_classes: int, ignore_index: int, dtype: np.dtype) -> np.ndarray:
    """One-hot rows along axis 1: shape (N, C, d1, ...); ignored targets get a row of zeros."""
    target = np.expand_dims(target, 1)
    classes = np.arange(num_classes).reshape((1, num_classes) + (1,) * (target.ndim - 2))
    hits = (target == classes) & (target != ignore_index)
    return hits.astype(dtype)


def _check_inplace(inplace: Any, op: str) -> None:
    """PyTorch's `inplace=` flag: accepted, and the result is computed out of place all the same.

    Overwriting the input saves memory in PyTorch; here the input keeps its
    values and the result is a new tensor, which is always correct (an
    in-place activation would need the input's values for its own gradient).
    """
    if not isinstance(inplace, (bool, np.bool_)):
        raise TypeError(f"{op}: inplace must be True or False, got {type(inplace).__name__} {inplace!r}")


# ---------------------------------------------------------------------------
# Linear layer
# ---------------------------------------------------------------------------


def _rows_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """(..., features) -> (rows, features): every leading axis merged into the rows."""
    return (math.prod(shape[:-1]), shape[-1])


class Linear(Function):
    """y = x W^T + b on the last axis of x: one node for a whole fully connected layer.

    Inputs: x (..., in_features) (1-D, 2-D or with more leading axes), W
    (out_features, in_features) and, optionally, b (out_features,). Output:
    (..., out_features).

    With y[n, o] = sum_i x[n, i] W[o, i] + b[o] for every row n of x (the
    leading axes merged into one):
        dL/dx[n, i] = sum_o g[n, o] W[o, i]   ->  dL/dx = g W
        dL/dW[o, i] = sum_n g[n, o] x[n, i]   ->  dL/dW = g^T x
        dL/db[o]    = sum_n g[n, o]           ->  dL/db = the sum of g over the rows
    """

    @quietly  # x Wᵀ past the largest float is inf, without a warning
    def forward(self, x: np.ndarray, w: np.ndarray, *bias: np.ndarray) -> np.ndarray:
        # Extra leading axes are merged into one batch axis, so one 2-D matrix
        # product does the work.
        rows = x.reshape(_rows_shape(x.shape)) if x.ndim != 2 else x
        out = rows @ w.T
        if bias:
            b = bias[0]
            out += b  # one dtype: linear() promotes mixed float dtypes first
        return out.reshape(x.shape[:-1] + (w.shape[0],)) if x.ndim != 2 else out

    vjp_rule = VjpRule(
        {"x": "{g}·{W}", "W": "{g}ᵀ·{x} (summed over the leading axes)", "b": "Σ {g} over the leading axes"},
        plain="dW is the outer product of the upstream gradient and the input, summed over the batch",
    )

    def backward(self, g: Tensor) -> tuple[Tensor | None, ...]:
        x, w = self.parents[:2]
        # Written with Tensor ops (reshape, matmul, sum), so it can be
        # differentiated again. Leading axes are merged into rows first.
        if x.ndim != 2:
            g = g.reshape(_rows_shape(g.shape))
        gx = gw = gb = None
        if self.needs_grad[0]:
            gx = g @ w
            if x.ndim != 2:
                gx = gx.reshape(x.shape)
        if self.needs_grad[1]:
            rows = x.reshape(_rows_shape(x.shape)) if x.ndim != 2 else x
            gw = g.T @ rows
        if len(self.parents) == 2:
            return gx, gw
        if self.needs_grad[2]:
            gb = g.sum(axis=0)
        return gx, gw, gb


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b, applied to the last axis of x (one `Linear` node).

    input: (..., in_features); weight: (out_features, in_features);
    bias: (out_features,) or None. Returns (..., out_features).
    """
    _check_float_tensor(input, "input", "linear")
    _check_float_tensor(weight, "weight", "linear")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must have shape (out_features, in_features), got {weight.shape}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {input.shape} does not match weight of shape {weight.shape}: "
            f"the last axis of input must be in_features={weight.shape[1]}"
        )
    if bias is not None:
        _check_float_tensor(bias, "bias", "linear")
        if bias.shape != (weight.shape[0],):
            raise ValueError(
                f"linear: bias has shape {bias.shape}, expected ({weight.shape[0]},) for weight of shape {weight.shape}"
            )
    input, weight, bias = promote_floats(input, weight, bias)  # mixed float dtypes: the widest (docs/ops.md)
    if bias is None:
        return Linear.apply(input, weight)
    return Linear.apply(input, weight, bias)


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0); the gradient at 0 is 0. `inplace=True` is accepted and computed
    out of place (the input is left as it was)."""
    _check_inplace(inplace, "relu")
    return ops.relu(input)


class LeakyRelu(Function):
    """x for x > 0, negative_slope * x otherwise."""

    @quietly  # a large x times a slope above 1 may overflow to inf: no warning
    def forward(self, x: np.ndarray, *, negative_slope: float) -> np.ndarray:
        self.negative_slope = negative_slope
        return np.where(x > 0, x, x * negative_slope)

    vjp_rule = VjpRule(
        {"x": "{g}·(1 if {x} > 0 else negative_slope)"},
        plain="the gradient passes where the input was positive, scaled by the slope elsewhere",
        settings={"negative_slope": None},
    )

    def backward(self, g: Tensor) -> tuple[Tensor | None, ...]:
        (x,) = self.parents
        # At 0 the slope is negative_slope, as in PyTorch.
        slope = np.where(x.data > 0, 1, self.negative_slope).astype(g.dtype)
        return (depends_on(g * constant(slope), x),)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """max(x, 0) + negative_slope * min(x, 0): a ReLU that lets a little gradient through for x < 0.

    `inplace=True` is accepted and computed out of place (the input is left as it was).
    """
    _check_inplace(inplace, "leaky_relu")
    _check_float_tensor(input, "input", "leaky_relu")
    negative_slope = as_number(negative_slope, "leaky_relu", "negative_slope")
    return LeakyRelu.apply(input, negative_slope=negative_slope)


class Softplus(Function):
    """log(1 + e^x), computed as logaddexp(0, x) so it never overflows."""

    @quietly  # logaddexp(0, nan) is nan: without numpy's "invalid value" warning, as everywhere
    def forward(self, x: np.ndarray) -> np.ndarray:
        return np.logaddexp(0, x)

    vjp_rule = VjpRule(
        {"x": "{g}·σ({x})"},
        plain="softplus's slope is the sigmoid",
    )

    def backward(self, g: Tensor) -> tuple[Tensor | None, ...]:
        (x,) = self.parents
        return (g * sigmoid(x),)  # d/dx log(1 + e^x) = e^x / (1 + e^x)


def softplus(input: Tensor, beta: float = 1.0) -> Tensor:
    """(1 / beta) * log(1 + exp(beta * x)): a smooth ReLU, computed without overflow for any x."""
    _check_float_tensor(input, "input", "softplus")
    beta = as_number(beta, "softplus", "beta")
    if not beta > 0:
        raise ValueError(f"softplus: beta must be a positive number, got {beta!r}")
    if beta == 1:
        return Softplus.apply(input)
    return Softplus.apply(input * beta) / beta


def softmax(input: Tensor, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """exp(x_i) / sum_j exp(x_j) along `axis` (or PyTorch's `dim`; default the last axis):
    a probability distribution over that axis.

    The row maximum is subtracted first, so exp never overflows (the largest
    exponent is 0). Softmax does not change when a constant is added to a row,
    so the shift is a constant with no gradient (it is detached).
    """
    _check_float_tensor(input, "input", "softmax")
    (axis,) = normalize_axes(axis_arg("softmax", axis, dim, default=-1), input.ndim, "softmax")
    shift = input.detach().max(axis, keepdims=True)
    e = (input - shift).exp()
    return e / e.sum(axis, keepdims=True)


def log_softmax(input: Tensor, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """log(softmax(x)) = x_i - log(sum_j exp(x_j)) along `axis` (or `dim`; default the last), computed stably.

    With z = x - max(x), log-sum-exp is log(sum exp z): the sum is at least 1
    (the maximum contributes e^0), so neither the exp nor the log can fail.
    """
    _check_float_tensor(input, "input", "log_softmax")
    (axis,) = normalize_axes(axis_arg("log_softmax", axis, dim, default=-1), input.ndim, "log_softmax")
    z = input - input.detach().max(axis, keepdims=True)
    return z - z.exp().sum(axis, keepdims=True).log()


# ---------------------------------------------------------------------------
# Classification losses
# ---------------------------------------------------------------------------


class CrossEntropy(Function):
    """Per-sample cross-entropy -sum_c t_c log softmax(logits)_c, from target rows t.

    Inputs: logits (N, C, d1, ...) and target rows of the same shape: one-hot
    rows (a row of zeros for an ignored sample), or rows holding class weights
    and label smoothing (see cross_entropy). Output: the losses (N, d1, ...).
    """

    @quietly  # float16 logits of +-6e4: the shift overflows to -inf, silently, as in PyTorch
    def forward(self, logits: np.ndarray, onehot: np.ndarray) -> np.ndarray:
        # -log p_t = log(sum_j e^(x_j)) - x_t, with both terms shifted by the row maximum.
        z = logits - logits.max(axis=1, keepdims=True)
        log_sum_exp = np.log(np.exp(z).sum(axis=1, keepdims=True))
        # Only the target's term counts: where() keeps a class whose -log p is
        # inf out of the other rows' sums (0 * inf would be nan).
        return np.sum(np.where(onehot != 0, onehot * (log_sum_exp - z), 0), axis=1)

    vjp_rule = VjpRule(
        {"x": "{g}·(softmax({x}) − {y}), y the one-hot target", "y": None},
        plain="the predicted probabilities minus the one-hot target (the mean then divides by N)",
    )

    def backward(self, g: Tensor) -> tuple[Tensor | None, ...]:
        logits, onehot = self.parents
        # The softmax is the composite one, so with create_graph this
        # expression can be differentiated again.
        p = softmax(logits, axis=1)
        counted = onehot.sum(axis=1, keepdims=True)  # 1, or 0 for an ignored sample
        return (p * counted - onehot) * g.unsqueeze(1), None


def cross_entropy(input: Tensor, target: Any, weight: Any = None, *, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy between logits and targets: the mean of -log softmax(x)[target].

    input: logits (N, C) or (N, C, d1, ...). target: either integer class
    indices (N,) or (N, d1, ...) in [0, C), or class probabilities (floats of
    the input's shape, e.g. one-hot rows or smoothed labels), as in PyTorch.
    Samples whose class target equals `ignore_index` give a loss of 0 and are
    left out of the mean. The gradient with respect to the logits is
    (softmax(x) - onehot(target)) / N for reduction='mean'.

    With probabilities y the loss of a sample is -sum_c y_c log softmax(x)_c,
    and 'mean' averages over the samples (N, or N * d1 * ... positions); its
    gradient is (softmax(x) * sum_c y_c - y) / N. The targets get a gradient
    too, -log softmax(x) / N, if they require one.

    weight: one weight per class, shape (C,), as PyTorch's. With class
    indices a sample's loss is scaled by the weight of its target class, and
    'mean' divides by the sum of those weights (not by N). With probabilities
    each term c is scaled by weight_c, and 'mean' still divides by N.
    label_smoothing: ε in [0, 1]. The target becomes (1 - ε) times the given
    one plus ε/C on every class; with class indices and weights PyTorch's
    definition is kept: loss_n = (1 - ε) w_y (-log p_y) + (ε / C) sum_c w_c (-log p_c),
    and 'mean' divides by sum_n w_(y_n) (docs/activations_and_losses.md).
    """
    op = "cross_entropy"
    _check_float_tensor(input, "input", op)
    _check_reduction(reduction, op)
    label_smoothing = as_number(label_smoothing, op, "label_smoothing")
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if _holds_floats(target):
        return _soft_cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)
    array = _class_target(target, input, ignore_index, op)
    num_classes = input.shape[1]
    onehot = _one_hot(array, num_classes, ignore_index, input.dtype)
    counted = (array != ignore_index)
    class_weight = np.ones(num_classes, dtype=input.dtype) if weight is None else _class_weight(weight, input, op)
    # The weight of each sample's class, 0 for an ignored sample: (N, 1, d1, ...).
    sample_weight = np.expand_dims(np.where(counted, class_weight[np.where(counted, array, 0)], 0), 1)
    rows = onehot * sample_weight
    if label_smoothing:
        # Every counted sample also gets (ε/C) w_c on each class c.
        spread = class_weight.reshape((1, num_classes) + (1,) * (input.ndim - 2)) * np.expand_dims(counted, 1)
        rows = (1 - label_smoothing) * rows + (label_smoothing / num_classes) * spread
    loss = CrossEntropy.apply(input, constant(rows.astype(input.dtype, copy=False)))
    if weight is None:
        return _reduce(loss, reduction, count=int(np.count_nonzero(counted)))
    return _reduce(loss, reduction, count=float(sample_weight.sum()))


def _class_weight(weight: Any, input: Tensor, op: str) -> np.ndarray:
    """A loss's class weights as an array of shape (C,) in the input's dtype (constants: no gradient)."""
    num_classes = input.shape[1]
    array = weight.data if isinstance(weight, Tensor) else np.asarray(weight)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{op}: weight must hold numbers, got dtype {array.dtype}")
    if array.shape != (num_classes,):
        raise ValueError(
            f"{op}: weight must have one entry per class, shape ({num_classes},) for input of shape {input.shape}, "
            f"got {array.shape}"
        )
    if isinstance(weight, Tensor) and weight.requires_grad and is_grad_enabled():
        raise ValueError(f"{op}: weight requires grad, but class weights are constants here (as in PyTorch, "
                         "which has no gradient for them); pass weight.detach()")
    return array.astype(input.dtype)


def _holds_floats(target: Any) -> bool:
    """True for a float Tensor, array or list: class probabilities rather than class indices."""
    if isinstance(target, Tensor):
        return target.dtype.kind == "f"
    if isinstance(target, (np.ndarray, np.generic)):
        return target.dtype.kind == "f"
    return isinstance(target, (list, tuple)) and np.asarray(target).dtype.kind == "f"


def _soft_cross_entropy(input: Tensor, target: Any, weight: Any, ignore_index: int, reduction: str,
                        label_smoothing: float) -> Tensor:
    """cross_entropy with class probabilities: -sum_c w_c y_c log softmax(x)_c for each sample,
    with y = (1 - ε) target + ε / C."""
    op = "cross_entropy"
    if input.ndim < 2:
        raise ValueError(f"{op}: input must have shape (N, C) or (N, C, d1, ...), got {input.shape}")
    if ignore_index != -100:
        raise ValueError(f"{op}: ignore_index={ignore_index} is not supported with class-probability (float) targets")
    target_shape = target.shape if isinstance(target, Tensor) else np.shape(target)
    if target_shape != input.shape:
        raise ValueError(
            f"{op}: float targets are class probabilities and must have the input's shape {input.shape}, "
            f"got {target_shape}; for class indices of shape {(input.shape[0],) + input.shape[2:]} "
            "use an integer dtype (e.g. target.astype(np.int64))"
        )
    input, target = _float_target(target, input, op)
    num_classes = input.shape[1]
    if label_smoothing:
        target = target * (1 - label_smoothing) + label_smoothing / num_classes
    if weight is not None:
        class_weight = _class_weight(weight, input, op).reshape((1, num_classes) + (1,) * (input.ndim - 2))
        target = target * constant(class_weight)
    # A composite of log_softmax: its gradient, and the gradient of that, come from the chain rule.
    loss = -(target * log_softmax(input, axis=1)).sum(axis=1)
    return _reduce(loss, reduction)


def nll_loss(input: Tensor, target: Any, weight: Any = None, *, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: the mean of -input[n, target[n]], for log-probabilities `input`.

    `nll_loss(log_softmax(x, axis=1), t)` equals `cross_entropy(x, t)`.
    input: (N, C) or (N, C, d1, ...); target as for cross_entropy. weight:
    one per class, shape (C,): each sample's loss is scaled by its class's
    weight, and 'mean' divides by the sum of those weights (as PyTorch).
    """
    _check_float_tensor(input, "input", "nll_loss")
    _check_reduction(reduction, "nll_loss")
    array = _class_target(target, input, ignore_index, "nll_loss")
    onehot = _one_hot(array, input.shape[1], ignore_index, input.dtype)
    if weight is not None:
        onehot = onehot * _class_weight(weight, input, "nll_loss").reshape((1, -1) + (1,) * (input.ndim - 2))
    # Multiplying by the one-hot row and summing picks input[n, target[n]] (times its weight).
    loss = -(input * constant(onehot)).sum(axis=1)
    if weight is None:
        return _reduce(loss, reduction, count=int(np.count_nonzero(array != ignore_index)))
    return _reduce(loss, reduction, count=float(onehot.sum()))


class BinaryCrossEntropy(Function):
    """Elementwise -(y log p + (1 - y) log(1 - p)), each log clamped at -100 as PyTorch does."""

    def forward(self, p: np.ndarray, y: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(p), -100)
            log_1mp = np.maximum(np.log1p(-p), -100)
        return -(y * log_p + (1 - y) * log_1mp)

    vjp_rule = VjpRule(
        {"p": "{g}·({p} − {y}) / ({p}·(1 − {p}))", "y": "{g}·(ln(1 − {p}) − ln {p})"},
        plain="the derivative of −(y ln p + (1 − y) ln(1 − p)) in each input",
    )

    def backward(self, g: Tensor) -> tuple[Tensor | None, ...]:
        p, y = self.parents
        gp = gy = None
        if self.needs_grad[0]:
            # PyTorch keeps the denominator at least 1e-12, so p = 0 or 1
            # gives a large but finite gradient.
            gp = g * (p - y) / maximum(p * (1 - p), 1e-12)
        if self.needs_grad[1]:
            # The same clamped logs as forward.
            gy = g * ((1 - p).log().clip(lo=-100) - p.log().clip(lo=-100))
        return gp, gy


def binary_cross_entropy(
    input: Tensor, target: Any, weight: Tensor | None = None, *, reduction: str = "mean"
) -> Tensor:
    """Binary cross-entropy of probabilities p in [0, 1] against targets y in [0, 1].

    loss = -weight * (y log p + (1 - y) log(1 - p)), each log clamped at -100,
    so p exactly 0 or 1 gives a finite loss and a finite gradient. For raw
    scores (logits) use binary_cross_entropy_with_logits: it is more accurate.
    """
    _check_float_tensor(input, "input", "binary_cross_entropy")
    _check_reduction(reduction, "binary_cross_entropy")
    input, target = _float_target(target, input, "binary_cross_entropy")
    # As in PyTorch, every input and target must lie in [0, 1]; nan does not.
    # (A loss of nan, or of a target outside [0, 1], would train silently wrong.)
    for name, tensor in (("input", input), ("target", target)):
        values = tensor.data
        # (min and max are nan when a value is nan, and nan >= 0 is False.)
        if values.size and not (values.min() >= 0 and values.max() <= 1):
            outside = values[~((values >= 0) & (values <= 1))]
            what = "probabilities" if name == "input" else "values"
            hint = "; for raw scores use binary_cross_entropy_with_logits" if name == "input" else ""
            raise ValueError(
                f"binary_cross_entropy: {name} must hold {what} in [0, 1], got {outside.size} element(s) "
                f"outside (e.g. {outside.flat[0]}) in a tensor of shape {tensor.shape}{hint}"
            )
    if weight is not None:
        weight = _check_weight(weight, input, "weight", "binary_cross_entropy")
        input, target, weight = promote_floats(input, target, weight)
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    input: Tensor, target: Any, weight: Tensor | None = None, *, reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Binary cross-entropy of sigmoid(x) against targets y, computed from the logits x.

    loss = (1 - y) x + w_y * softplus(-x), where softplus(-x) = -log sigmoid(x)
    and w_y = 1 + (pos_weight - 1) y (just 1 without pos_weight). Without
    pos_weight this is the familiar max(x, 0) - x y + log(1 + exp(-|x|)).
    It never overflows, and its gradient is sigmoid(x) - y.
    pos_weight: a weight for the positive term, broadcast along the last axis
    (one per class); weight: a weight for each element's loss.
    """
    op = "binary_cross_entropy_with_logits"
    _check_float_tensor(input, "input", op)
    _check_reduction(reduction, op)
    input, target = _float_target(target, input, op)
    if pos_weight is not None:
        pos_weight = _check_weight(pos_weight, input, "pos_weight", op)
    if weight is not None:
        weight = _check_weight(weight, input, "weight", op)
    input, target, pos_weight, weight = promote_floats(input, target, pos_weight, weight)
    # -log(1 - sigmoid(x)) = x + softplus(-x), so the negative term is (1 - y)(x + softplus(-x)).
    softplus_neg = Softplus.apply(-input)
    if pos_weight is None:
        loss = (1 - target) * input + softplus_neg
    else:
        loss = (1 - target) * input + (1 + (pos_weight - 1) * target) * softplus_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# ---------------------------------------------------------------------------
# Regression loss
# ---------------------------------------------------------------------------


def mse_loss(input: Tensor, target: Any, *, reduction: str = "mean") -> Tensor:
    """Mean squared error: the mean of (input - target)^2 (shapes must be equal)."""
    _check_float_tensor(input, "input", "mse_loss")
    _check_reduction(reduction, "mse_loss")
    input, target = _float_target(target, input, "mse_loss")
    diff = input - target
    return _reduce(diff * diff, reduction)


# ---------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout: zero each element with probability p, scale the rest by 1 / (1 - p).

    `inplace=True` is accepted and computed out of place (the input is left as it was).

    The scaling keeps the expected value of every element unchanged, so
    nothing needs rescaling at evaluation time: with training=False (or p=0)
    the input is returned as it is. The mask comes from the library's random
    generator, so `manual_seed` makes it reproducible.
    """
    _check_float_tensor(input, "input", "dropout")
    _check_inplace(inplace, "dropout")
    p = as_number(p, "dropout", "p")
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p is the probability of dropping an element and must be in [0, 1), got {p!r}")
    if not training or p == 0:
        return input
    keep = get_rng().random(input.shape, dtype=np.float32) >= p  # True with probability 1 - p
    mask = keep.astype(input.dtype)
    mask *= 1 / (1 - p)
    # A product with a constant: the gradient is the upstream gradient times the same mask.
    return input * constant(mask)


# ---------------------------------------------------------------------------
# Batch normalisation
# ---------------------------------------------------------------------------


class BatchNormalize(Function):
    """xhat = (x - mean) * inv_std per channel, with the statistics of this batch.

    `mean` and `inv_std` (shape (1, C, 1, ...)) are computed from x by the
    caller; the VJP accounts for their dependence on x. `axes` (the batch and
    spatial axes) and `eps` are the ones they were computed with.
    """

    uses_output = True  # the VJP is written in terms of xhat

    @quietly
    def forward(self, x: np.ndarray, *, mean: np.ndarray, inv_std: np.ndarray, axes: tuple[int, ...],
                eps: float) -> np.ndarray:
        # Kept for backward: inv_std as computed here, and what it takes to
        # compute it again from x with Tensor ops (the axes and eps).
        self.inv_std, self.axes, self.eps = inv_std, axes, eps
        out = x - mean
        out *= inv_std
        return out

    vjp_rule = VjpRule(
        {"x": "inv_std·({g} − mean({g}) − x̂·mean({g}·x̂))"},
        plain="normalising subtracts the batch mean and divides by the batch std, and both depend on every input",
    )

    def backward(self, g: Tensor) -> tuple[Tensor | None, ...]:
        (x,) = self.parents
        axes = self.axes
        xhat = self.output
        if is_grad_enabled():
            # create_graph=True: rebuild inv_std from x with Tensor ops, so the
            # gradient below is itself differentiable with respect to x.
            inv_std = (x.var(axes, keepdims=True) + self.eps) ** -0.5
        else:
            inv_std = constant(self.inv_std)
        # The means are over the batch (and spatial) axes; the rule is derived
        # in docs/normalization_and_dropout.md.
        g_mean = g.mean(axes, keepdims=True)
        gx_mean = (g * xhat).mean(axes, keepdims=True)
        return (inv_std * (g - g_mean - xhat * gx_mean),)


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation over the batch (and spatial) axes, per channel (axis 1).

    input: (N, C) or (N, C, H, W) (any (N, C, ...) works); running_mean,
    running_var, weight (gamma), bias (beta): (C,) or None.

    training=True: normalise with this batch's mean and biased variance, and
    update the running statistics in place (when given):
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var  = (1 - momentum) * running_var  + momentum * var * n / (n - 1)
    with n the number of values per channel (the running variance is unbiased).
    training=False: normalise with the running statistics.
    Then y = gamma * xhat + beta.
    """
    op = "batch_norm"
    _check_float_tensor(input, "input", op)
    if input.ndim < 2:
        raise ValueError(f"{op}: input must have shape (N, C) or (N, C, H, W), got {input.shape}")
    channels = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is None:
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor or None, got {type(t).__name__}")
        if t.shape != (channels,):
            raise ValueError(
                f"{op}: {name} has shape {t.shape}, but input of shape {input.shape} has C={channels} channels; "
                f"expected ({channels},)"
            )
    momentum = as_number(momentum, op, "momentum")
    eps = as_number(eps, op, "eps")
    # Mixed float dtypes compute in the widest (docs/ops.md, dtypes); the
    # running statistics keep their own dtype, and count too when they are used.
    input, weight, bias = promote_floats(input, weight, bias)
    # The statistics are per channel: reduce over every axis except axis 1,
    # and keep them in shape (1, C, 1, ...) so they broadcast against the input.
    axes = (0,) + tuple(range(2, input.ndim))
    stat_shape = (1, channels) + (1,) * (input.ndim - 2)

    if training:
        count = input.numel() // channels if channels else 0
        if count <= 1:
            raise ValueError(
                f"{op}: Expected more than 1 value per channel when training, got input of shape {input.shape}"
            )
        with quiet():  # inputs near the float limit overflow to inf and nan, silently, as in PyTorch
            mean = input.data.mean(axis=axes, keepdims=True)
            centered = input.data - mean
            np.square(centered, out=centered)
            var = centered.mean(axis=axes, keepdims=True)  # biased: divided by n
            del centered
            inv_std = 1 / np.sqrt(var + eps)
        xhat = BatchNormalize.apply(input, mean=mean, inv_std=inv_std, axes=axes, eps=eps)
        if running_mean is not None:
            running_mean.data *= 1 - momentum
            running_mean.data += momentum * mean.reshape(channels)
        if running_var is not None:
            unbiased = var.reshape(channels) * (count / (count - 1))
            running_var.data *= 1 - momentum
            running_var.data += momentum * unbiased
        out = xhat
        if weight is not None:
            out = out * weight.reshape(stat_shape)
        if bias is not None:
            out = out + bias.reshape(stat_shape)
        return out

    if running_mean is None or running_var is None:
        raise ValueError(f"{op}: running_mean and running_var must be given when training=False")
    # Evaluation is an affine map per channel, y = x * scale + shift, with
    # scale = gamma / sqrt(running_var + eps) and shift = beta - running_mean * scale:
    # two passes over the input instead of four.
    stats = promote_floats(input, weight, bias, constant(running_mean.data), constant(running_var.data))
    input, weight, bias, mean, var = stats
    with quiet():  # a negative running variance gives nan, as in PyTorch, without numpy's warning
        inv_std = 1 / np.sqrt(var.data + eps)
    scale = constant(inv_std.reshape(stat_shape))
    if weight is not None:
        scale = scale * weight.reshape(stat_shape)
    shift = -constant(mean.data.reshape(stat_shape)) * scale
    if bias is not None:
        shift = shift + bias.reshape(stat_shape)
    return input * scale + shift


# The forwards above never write into their input arrays (see Function.guards_inputs).
trust_forward(Linear, LeakyRelu, Softplus, CrossEntropy, BinaryCrossEntropy, BatchNormalize)
