"""Weight initialisation, with PyTorch's names and formulas.

Each function fills a tensor's `.data` in place with random draws from the
library's generator (`tinygrad_cnn.get_rng()`, seeded by `manual_seed`) and
returns the tensor. The array keeps its dtype.

Why it matters: with unscaled `randn` weights the activations grow (or
shrink) by a constant factor per layer, and a deep network's gradients
explode or vanish. The Kaiming and Xavier schemes pick the spread so that the
variance of the activations (or of the gradients) stays about the same from
layer to layer. See docs/nn_and_optim.md for the derivation.
"""

from __future__ import annotations

import math

import numpy as np

from ..creation import get_rng
from ..tensor import Tensor, bump_version

_LINEAR_NAMES = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor by which a nonlinearity shrinks the standard deviation, to undo.

    linear, conv*, sigmoid: 1;  tanh: 5/3;  relu: sqrt(2);
    leaky_relu: sqrt(2 / (1 + negative_slope^2)) (slope `param`, default 0.01);  selu: 3/4.
    """
    if nonlinearity in _LINEAR_NAMES:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """fan_in and fan_out of a weight.

    Linear (out, in): fan_in = in, fan_out = out.
    Conv (out, in, kh, kw): each output sums over in * kh * kw inputs, so
    fan_in = in * kh * kw and fan_out = out * kh * kw (the "receptive field"
    kh * kw multiplies both).
    """
    if tensor.ndim < 2:
        raise ValueError(
            f"init: fan in and fan out cannot be computed for a tensor with fewer than 2 dimensions, "
            f"got shape {tensor.shape}"
        )
    receptive_field = math.prod(tensor.shape[2:])
    fan_in = tensor.shape[1] * receptive_field
    fan_out = tensor.shape[0] * receptive_field
    return fan_in, fan_out


def _fan(tensor: Tensor, mode: str, op: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"{op}: {mode} is 0 for a tensor of shape {tensor.shape}")
    return fan


def _check_tensor(tensor: object, op: str) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(tensor).__name__}")
    if tensor.data.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {tensor.dtype}")


def _fill(tensor: Tensor, values: np.ndarray | float) -> Tensor:
    # Write into the existing array: the tensor keeps its dtype, and anything
    # holding a reference to the array sees the new values.
    tensor.data[...] = values
    bump_version(tensor)  # a graph recorded before this sees that its saved values changed
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with draws from U(a, b)."""
    _check_tensor(tensor, "uniform_")
    if not a <= b:
        raise ValueError(f"uniform_: a={a} is greater than b={b}")
    return _fill(tensor, get_rng().uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with draws from N(mean, std^2)."""
    _check_tensor(tensor, "normal_")
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    return _fill(tensor, get_rng().normal(mean, std, tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with the value `val`."""
    _check_tensor(tensor, "constant_")
    return _fill(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros."""
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones."""
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot/Xavier uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).

    That is std = gain * sqrt(2 / (fan_in + fan_out)), since U(-a, a) has std a / sqrt(3).
    """
    _check_tensor(tensor, "xavier_uniform_")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    if fan_in + fan_out == 0:
        raise ValueError(f"xavier: fan_in + fan_out is 0 for a tensor of shape {tensor.shape}")
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return _fill(tensor, get_rng().uniform(-bound, bound, tensor.shape))


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot/Xavier normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check_tensor(tensor, "xavier_normal_")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    if fan_in + fan_out == 0:
        raise ValueError(f"xavier: fan_in + fan_out is 0 for a tensor of shape {tensor.shape}")
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _fill(tensor, get_rng().normal(0.0, std, tensor.shape))


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """He/Kaiming uniform: U(-bound, bound) with bound = gain * sqrt(3 / fan).

    gain = calculate_gain(nonlinearity, a); fan is fan_in (keeps the forward
    activations' variance) or fan_out (keeps the gradients'). The layers'
    default, a = sqrt(5), gives gain = sqrt(1/3) and bound = 1 / sqrt(fan_in).
    """
    _check_tensor(tensor, "kaiming_uniform_")
    fan = _fan(tensor, mode, "kaiming_uniform_")
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return _fill(tensor, get_rng().uniform(-bound, bound, tensor.shape))


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    """He/Kaiming normal: N(0, std^2) with std = gain / sqrt(fan)."""
    _check_tensor(tensor, "kaiming_normal_")
    fan = _fan(tensor, mode, "kaiming_normal_")
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return _fill(tensor, get_rng().normal(0.0, std, tensor.shape))


__all__ = [
    "calculate_fan_in_and_fan_out", "calculate_gain", "constant_", "kaiming_normal_", "kaiming_uniform_", "normal_",
    "ones_", "uniform_",
    "xavier_normal_", "xavier_uniform_", "zeros_",
]
