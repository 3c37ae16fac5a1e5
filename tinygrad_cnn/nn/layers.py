"""The layers: Modules that hold parameters (or settings) and call the functional ops.

Names, arguments and defaults follow `torch.nn`. Each layer's `forward` is
one call into `tinygrad_cnn.functional` (F), which does the math; the layer
only owns the weights. Weights start as PyTorch's do (see `reset_parameters`
and docs/nn_and_optim.md), drawn from the library's random generator, so
`tinygrad_cnn.manual_seed(n)` makes a model's initial weights reproducible.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import functional as F
from ..conv import adaptive_output_size, as_pair, check_pool_padding
from ..ops import as_number, axis_arg
from ..tensor import Tensor
from . import init
from .module import Module, Parameter

Pair = tuple[int, int]


# ---------------------------------------------------------------------------
# Argument checking
# ---------------------------------------------------------------------------


def _positive_int(value: Any, name: str, op: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{op}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _empty_parameter(*shape: int) -> Parameter:
    # Filled by reset_parameters right after.
    return Parameter(np.empty(shape, dtype=np.float32))


def _init_weight_and_bias(weight: Parameter, bias: Parameter | None) -> None:
    """PyTorch's default for Linear and convolutions.

    weight ~ U(-b, b) with b = 1 / sqrt(fan_in): Kaiming uniform with
    a = sqrt(5), i.e. gain sqrt(2 / (1 + 5)) and bound gain * sqrt(3 / fan_in).
    bias ~ U(-1 / sqrt(fan_in), 1 / sqrt(fan_in)).
    """
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init.calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        init.uniform_(bias, -bound, bound)


def _check_input_ndim(x: Any, ndims: tuple[int, ...], layout: str, op: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    if x.ndim not in ndims:
        raise ValueError(f"{op}: expected input of shape {layout}, got shape {x.shape}")


# ---------------------------------------------------------------------------
# Layers with weights
# ---------------------------------------------------------------------------


class Linear(Module):
    """y = x W^T + b on the last axis.

    weight: (out_features, in_features); bias: (out_features,).
    Input (..., in_features) -> output (..., out_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features", "Linear")
        self.out_features = _positive_int(out_features, "out_features", "Linear")
        self.weight = _empty_parameter(self.out_features, self.in_features)
        if bias:
            self.bias = _empty_parameter(self.out_features)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw fresh initial weights (PyTorch's default)."""
        _init_weight_and_bias(self.weight, self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: the settings, their checks and repr."""

    def __init__(self, op: str, in_channels: int, out_channels: int, kernel_size: Any, stride: Any,
                 padding: Any, dilation: Any, groups: int) -> None:
        super().__init__()
        self.in_channels = _positive_int(in_channels, "in_channels", op)
        self.out_channels = _positive_int(out_channels, "out_channels", op)
        self.kernel_size = as_pair(kernel_size, op, "kernel_size", minimum=1)
        self.stride = as_pair(stride, op, "stride", minimum=1)
        self.padding = as_pair(padding, op, "padding", minimum=0)
        self.dilation = as_pair(dilation, op, "dilation", minimum=1)
        self.groups = _positive_int(groups, "groups", op)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"{op}: in_channels={in_channels} and out_channels={out_channels} must both be divisible by "
                f"groups={groups}"
            )

    def reset_parameters(self) -> None:
        """Draw fresh initial weights (PyTorch's default)."""
        _init_weight_and_bias(self.weight, self.bias)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if getattr(self, "output_padding", (0, 0)) != (0, 0):
            text += f", output_padding={self.output_padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation) over NCHW input.

    weight: (out_channels, in_channels // groups, kh, kw); bias: (out_channels,).
    Output size per spatial axis: (size + 2 * padding - dilation * (k - 1) - 1) // stride + 1.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Pair, stride: int | Pair = 1,
                 padding: int | Pair = 0, dilation: int | Pair = 1, groups: int = 1, bias: bool = True) -> None:
        super().__init__("Conv2d", in_channels, out_channels, kernel_size, stride, padding, dilation, groups)
        kh, kw = self.kernel_size
        self.weight = _empty_parameter(self.out_channels, self.in_channels // self.groups, kh, kw)
        if bias:
            self.bias = _empty_parameter(self.out_channels)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        _check_input_ndim(x, (4,), "(N, C, H, W)", "Conv2d")
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding,
                        dilation=self.dilation, groups=self.groups)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution: the gradient of Conv2d with respect to its input, used to upsample.

    weight: (in_channels, out_channels // groups, kh, kw), as in PyTorch; bias: (out_channels,).
    Output size per spatial axis:
    (size - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Pair, stride: int | Pair = 1,
                 padding: int | Pair = 0, output_padding: int | Pair = 0, groups: int = 1, bias: bool = True,
                 dilation: int | Pair = 1) -> None:
        op = "ConvTranspose2d"
        super().__init__(op, in_channels, out_channels, kernel_size, stride, padding, dilation, groups)
        self.output_padding = as_pair(output_padding, op, "output_padding", minimum=0)
        for axis in range(2):
            if self.output_padding[axis] >= max(self.stride[axis], self.dilation[axis]):
                raise ValueError(
                    f"{op}: output_padding={self.output_padding} must be smaller than stride={self.stride} "
                    f"or dilation={self.dilation}"
                )
        kh, kw = self.kernel_size
        self.weight = _empty_parameter(self.in_channels, self.out_channels // self.groups, kh, kw)
        if bias:
            self.bias = _empty_parameter(self.out_channels)
        else:
            self.register_parameter("bias", None)
        # PyTorch's fan_in for this weight is (out_channels // groups) * kh * kw
        # (its axis 1), and the bias bound uses the same fan_in.
        self.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        _check_input_ndim(x, (4,), "(N, C, H, W)", "ConvTranspose2d")
        return F.conv_transpose2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding,
                                  output_padding=self.output_padding, groups=self.groups, dilation=self.dilation)


class _BatchNorm(Module):
    """What BatchNorm1d and BatchNorm2d share.

    Training: normalise each channel with this batch's mean and variance, and
    update the running estimates
        running = (1 - momentum) * running + momentum * batch_statistic
    (momentum=None: a plain average over all batches so far, 1 / num_batches_tracked).
    Evaluation: normalise with the running estimates, so the output of one
    example does not depend on the rest of the batch.
    Then y = weight * xhat + bias (weight starts at 1, bias at 0).
    """

    _ndims: tuple[int, ...] = ()
    _layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True) -> None:
        super().__init__()
        op = type(self).__name__
        self.num_features = _positive_int(num_features, "num_features", op)
        if not eps > 0:
            raise ValueError(f"{op}: eps must be positive, got {eps}")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{op}: momentum must be in [0, 1] or None, got {momentum}")
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=np.float32))
            self.bias = Parameter(np.zeros(num_features, dtype=np.float32))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=np.float32)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=np.float32)))
            self.register_buffer("num_batches_tracked", Tensor(np.zeros((), dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Forget the running statistics (mean 0, variance 1)."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, x: Tensor) -> Tensor:
        _check_input_ndim(x, self._ndims, self._layout, type(self).__name__)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)
        # Without running statistics, batch statistics are used in eval mode too.
        use_batch_stats = self.training or not self.track_running_stats
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=use_batch_stats, momentum=factor, eps=self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) input, per channel C."""

    _ndims = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) input, per channel C (statistics over N, H and W)."""

    _ndims = (4,)
    _layout = "(N, C, H, W)"


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------


class MaxPool2d(Module):
    """The maximum of each kernel_size window (stride defaults to kernel_size)."""

    def __init__(self, kernel_size: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0,
                 dilation: int | Pair = 1) -> None:
        super().__init__()
        self.kernel_size = as_pair(kernel_size, "MaxPool2d", "kernel_size", minimum=1)
        self.stride = self.kernel_size if stride is None else as_pair(stride, "MaxPool2d", "stride", minimum=1)
        self.padding = as_pair(padding, "MaxPool2d", "padding", minimum=0)
        self.dilation = as_pair(dilation, "MaxPool2d", "dilation", minimum=1)
        check_pool_padding(self.kernel_size, self.padding, "MaxPool2d")

    def forward(self, x: Tensor) -> Tensor:
        _check_input_ndim(x, (4,), "(N, C, H, W)", "MaxPool2d")
        return F.max_pool2d(x, self.kernel_size, stride=self.stride, padding=self.padding, dilation=self.dilation)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, dilation={self.dilation}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (out_h, out_w), whatever the input size:
    `AdaptiveAvgPool2d(1)` is global average pooling. None in the pair keeps that input size."""

    def __init__(self, output_size: int | tuple[int | None, int | None]) -> None:
        super().__init__()
        if isinstance(output_size, list):
            output_size = tuple(output_size)
        self.output_size = output_size
        # Checked now, against a dummy input size, so a bad size fails when the layer is made.
        adaptive_output_size(output_size, (1, 1), "AdaptiveAvgPool2d")

    def forward(self, x: Tensor) -> Tensor:
        _check_input_ndim(x, (3, 4), "(N, C, H, W) or (C, H, W)", "AdaptiveAvgPool2d")
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AvgPool2d(Module):
    """The mean of each kernel_size window (stride defaults to kernel_size; zero padding counts)."""

    def __init__(self, kernel_size: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0) -> None:
        super().__init__()
        self.kernel_size = as_pair(kernel_size, "AvgPool2d", "kernel_size", minimum=1)
        self.stride = self.kernel_size if stride is None else as_pair(stride, "AvgPool2d", "stride", minimum=1)
        self.padding = as_pair(padding, "AvgPool2d", "padding", minimum=0)
        check_pool_padding(self.kernel_size, self.padding, "AvgPool2d")

    def forward(self, x: Tensor) -> Tensor:
        _check_input_ndim(x, (4,), "(N, C, H, W)", "AvgPool2d")
        return F.avg_pool2d(x, self.kernel_size, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


# ---------------------------------------------------------------------------
# Activations and reshaping
# ---------------------------------------------------------------------------


def _inplace_flag(inplace: Any, op: str) -> bool:
    """PyTorch's `inplace=` argument of activation layers: accepted; the result is computed out of place."""
    if not isinstance(inplace, (bool, np.bool_)):
        raise TypeError(f"{op}: inplace must be True or False, got {type(inplace).__name__} {inplace!r}")
    return bool(inplace)


class ReLU(Module):
    """max(x, 0), elementwise. `inplace=True` (PyTorch's memory saver) is accepted
    and computed out of place: the input keeps its values."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = _inplace_flag(inplace, "ReLU")

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = _inplace_flag(inplace, "LeakyReLU")  # accepted; computed out of place

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """1 / (1 + exp(-x)), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Softmax(Module):
    """exp(x) / sum(exp(x)) along `dim` (numpy's name `axis` works too); default the last axis."""

    def __init__(self, dim: int | None = None, *, axis: int | None = None) -> None:
        super().__init__()
        self.dim = axis_arg("Softmax", axis, dim, default=-1)

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, axis=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along `dim` (or `axis`), computed stably; default the last axis."""

    def __init__(self, dim: int | None = None, *, axis: int | None = None) -> None:
        super().__init__()
        self.dim = axis_arg("LogSoftmax", axis, dim, default=-1)

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, axis=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Flatten(Module):
    """Merge axes start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """In training, zero each element with probability p and scale the rest by 1 / (1 - p);
    in evaluation, pass the input through unchanged."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        p = as_number(p, "Dropout", "p")  # numpy floats too; strings and bools are a TypeError
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p is the probability of dropping an element and must be in [0, 1), got {p!r}")
        self.p = p
        self.inplace = _inplace_flag(inplace, "Dropout")  # accepted; computed out of place

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, training=self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}" + (", inplace=True" if self.inplace else "")


class Identity(Module):
    """Returns its input (a placeholder, e.g. to remove a layer); arguments are ignored."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x
