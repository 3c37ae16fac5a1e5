"""Convolution and pooling: differentiable primitives built on `conv_kernels`.

Public functions (PyTorch's names, argument order and semantics):

    conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1)
    conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1)
    max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1)
    avg_pool2d(x, kernel_size, stride=None, padding=0)
    adaptive_avg_pool2d(x, output_size)

Layout is NCHW for activations; conv2d weights are ``(out, in // groups, kh, kw)``,
conv_transpose2d weights ``(in, out // groups, kh, kw)``.

Three bilinear maps do all the convolution work (see docs/convolution.md):

    F(x, w)   = conv2d forward                 (a cross-correlation)
    Gi(y, w)  = adjoint of F in x: the input gradient, and the transposed convolution
    Gw(x, y)  = adjoint of F in w: the weight gradient, a correlation of x with y

They are adjoint to one another, <F(x, w), y> = <x, Gi(y, w)> = <w, Gw(x, y)>,
so the VJP of each is made of the other two. Each is a `Function` here
(`Conv2d`, `ConvTranspose2d`, `Conv2dGradWeight`), which makes the gradients of
gradients (double backward) work to any order.

Pooling follows the same pattern: `MaxPool2d`'s VJP is `MaxPool2dBackward`
(route each window's gradient to its first maximum), whose VJP is
`MaxPool2dGather` (read the value at each window's maximum), whose VJP is
`MaxPool2dBackward` again. `AvgPool2d` and `AvgPool2dBackward` are each other's VJP.
Adaptive average pooling is a composite: two matrix products with constant
averaging matrices, so its gradient comes from matmul's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import conv_kernels as K
from .float_errors import quietly
from .function import Function, trust_forward
from .grad_mode import is_grad_enabled
from .ops import as_int, check_float, constant, depends_on, promote_floats
from .tensor import Tensor
from .vjp_rule import VjpRule

__all__ = [
    "conv2d",
    "conv_transpose2d",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "Conv2d",
    "ConvTranspose2d",
    "Conv2dGradWeight",
    "MaxPool2d",
    "MaxPool2dBackward",
    "MaxPool2dGather",
    "AvgPool2d",
    "AvgPool2dBackward",
]

Pair = tuple[int, int]


# ---------------------------------------------------------------------------
# Argument checking
# ---------------------------------------------------------------------------


def as_pair(value: Any, op: str, name: str, minimum: int) -> Pair:
    """An int or a pair of ints -> (height, width), each at least `minimum`."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{op}: {name} must be {kind}, got {pair}")
    return pair


def _check_tensor_4d(x: Any, op: str, name: str, layout: str, floating: bool = True) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(x).__name__}")
    if floating:  # as in PyTorch; an integer convolution would wrap around (uint8 modulo 256)
        check_float(x, op, name)
    if x.ndim != 4:
        raise ValueError(f"{op}: {name} must be 4-D {layout}, got shape {x.shape}")


def _check_groups(groups: Any, op: str) -> int:
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    return int(groups)


def _check_bias(bias: Any, channels: int, op: str) -> None:
    if bias is None:
        return
    if not isinstance(bias, Tensor):
        raise TypeError(f"{op}: bias must be a Tensor or None, got {type(bias).__name__}")
    check_float(bias, op, "bias")
    if bias.shape != (channels,):
        raise ValueError(f"{op}: bias must have shape ({channels},) (one per output channel), got {bias.shape}")


def _add_bias(y: Tensor, bias: Tensor | None) -> Tensor:
    if bias is None:
        return y
    # One value per output channel, broadcast over batch, height and width.
    return y + bias.reshape(1, -1, 1, 1)


def check_pool_padding(kernel: Pair, padding: Pair, op: str) -> None:
    """Pooling padding is for centring windows; more than half a kernel would
    allow windows made only of padding."""
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half of kernel_size {kernel}")


def _pool_arguments(op: str, x: Any, kernel_size: Any, stride: Any, padding: Any,
                    dilation: Any) -> tuple[Pair, Pair, Pair, Pair]:
    """Validate pooling arguments (PyTorch's rules) and return them as pairs.

    Max pooling takes integer tensors too (a maximum is exact); average pooling does not."""
    _check_tensor_4d(x, op, "input", "(N, C, H, W)", floating=op != "max_pool2d")
    kernel = as_pair(kernel_size, op, "kernel_size", minimum=1)
    stride = kernel if stride is None else as_pair(stride, op, "stride", minimum=1)
    padding = as_pair(padding, op, "padding", minimum=0)
    dilation = as_pair(dilation, op, "dilation", minimum=1)
    check_pool_padding(kernel, padding, op)
    h, w = x.shape[2:]
    span = (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)
    padded = (h + 2 * padding[0], w + 2 * padding[1])
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ValueError(
            f"{op}: kernel of size {kernel} (spanning {span}) is larger than the padded input of size "
            f"{padded} (input shape {x.shape}, padding {padding})"
        )
    return kernel, stride, padding, dilation


# ---------------------------------------------------------------------------
# Convolution: each Function, then the public function built on it
# ---------------------------------------------------------------------------


class Conv2d(Function):
    """y = F(x, w) (+ b): cross-correlation of x (N, C, H, W) with w (O, C/g, KH, KW).

    Settings: stride, padding, dilation (pairs), groups, and out_hw: the output
    size, which is the natural one except inside the VJP of a transposed
    convolution (whose output_padding can add a stride's worth of extra rows).
    """

    @quietly  # sums past the largest float give inf, without numpy's warning (as everywhere in the library)
    def forward(self, x: np.ndarray, w: np.ndarray, *optional_bias: np.ndarray, stride: Pair, padding: Pair,
                dilation: Pair, groups: int, out_hw: Pair | None = None) -> np.ndarray:
        self.geometry = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        # An optional third input, the bias (O,), is added while the output is
        # copied into place: cheaper than a separate broadcast add.
        bias = optional_bias[0] if optional_bias else None
        if not is_grad_enabled():
            return K.conv2d_forward(x, w, stride, padding, dilation, groups, out_hw, bias)
        # Keep the column matrix (im2col of x) for the weight gradient, which
        # would otherwise copy the input into it a second time. It costs memory:
        # KH*KW/(sh*sw) times the size of x, until backward frees the graph.
        y, self.columns = K.conv2d_forward(x, w, stride, padding, dilation, groups, out_hw, bias,
                                           keep_columns=True)
        return y

    vjp_rule = VjpRule(
        {
            "x": "{g} ∗ {W} (full convolution)",
            "W": "{x} ⋆ {g} (valid cross-correlation)",
            "b": "Σ {g} over N, H, W",
        },
        plain="dW: the input slides under the upstream gradient; dx: the rotated filter slides over it",
        settings={"stride": 1, "padding": 0, "dilation": 1, "groups": 1},
    )

    def backward(self, g: Tensor) -> tuple[Tensor | None, ...]:
        x, w = self.parents[:2]
        # Not when this backward is recorded (create_graph): a recorded node
        # keeps its settings, and they should not hold a large array.
        columns = None if is_grad_enabled() else self.columns
        # dL/dw = Gw(x, g), in the names of the module's docstring.
        gw = None
        if self.needs_grad[1]:
            # The forward's column matrix spares a second im2col.
            gw = Conv2dGradWeight.apply(x, g, weight_shape=w.shape, columns=columns, **self.geometry)
        # dL/dx = Gi(g, w).
        gx = None
        if self.needs_grad[0]:
            # Once the weight gradient has used it, the column matrix is free: the
            # input gradient's product (a matrix of the same size) is written into
            # its memory instead of another buffer, which lowers the peak memory
            # of a training step. A second backward through a retained graph then
            # builds the columns again.
            if columns is not None:
                self.columns = None
            gx = ConvTranspose2d.apply(g, w, out_hw=x.shape[2:], work=columns, **self.geometry)
        if len(self.parents) == 2:
            return gx, gw
        # b[o] was added at every position (n, h, w) of channel o.
        gb = g.sum(axis=(0, 2, 3)) if self.needs_grad[2] else None
        return gx, gw, gb


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Pair = 1,
           padding: int | Pair = 0, dilation: int | Pair = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as in every deep-learning library).

    x: (N, C, H, W); weight: (O, C // groups, KH, KW); bias: (O,) or None.
    Returns (N, O, OH, OW) with OH = (H + 2*ph - dh*(KH-1) - 1) // sh + 1 (same for W).
    Padding is with zeros; the output dtype is the common dtype of x, weight and bias.
    """
    op = "conv2d"
    _check_tensor_4d(x, op, "input", "(N, C, H, W)")
    _check_tensor_4d(weight, op, "weight", "(out_channels, in_channels/groups, kH, kW)")
    stride = as_pair(stride, op, "stride", minimum=1)
    padding = as_pair(padding, op, "padding", minimum=0)
    dilation = as_pair(dilation, op, "dilation", minimum=1)
    groups = _check_groups(groups, op)

    n, c, h, w = x.shape
    o, c_per_group, kh, kw = weight.shape
    if c % groups or o % groups:
        raise ValueError(
            f"{op}: groups={groups} must divide both the input channels ({c}, input shape {x.shape}) "
            f"and the output channels ({o}, weight shape {weight.shape})"
        )
    if c_per_group * groups != c:
        raise ValueError(
            f"{op}: weight of shape {weight.shape} with groups={groups} expects {c_per_group * groups} input "
            f"channels, but the input of shape {x.shape} has {c}"
        )
    span = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    padded = (h + 2 * padding[0], w + 2 * padding[1])
    if span[0] > padded[0] or span[1] > padded[1]:
        raise ValueError(
            f"{op}: kernel of size {(kh, kw)} (spanning {span} with dilation {dilation}) is larger than the "
            f"padded input of size {padded} (input shape {x.shape}, padding {padding})"
        )
    _check_bias(bias, o, op)
    x, weight, bias = promote_floats(x, weight, bias)  # mixed float dtypes: the widest (docs/ops.md, dtypes)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Conv2d.apply(*inputs, stride=stride, padding=padding, dilation=dilation, groups=groups, out_hw=None)


class ConvTranspose2d(Function):
    """x_like = Gi(y, w): the transposed convolution of y (N, O, OH, OW) with w (O, C/g, KH, KW).

    It is the input gradient of `Conv2d` and the forward pass of
    `conv_transpose2d`. out_hw is the spatial size of the result.
    """

    @quietly
    def forward(self, y: np.ndarray, w: np.ndarray, *, stride: Pair, padding: Pair, dilation: Pair, groups: int,
                out_hw: Pair, work: np.ndarray | None = None) -> np.ndarray:
        # work: an array the kernel may overwrite (Conv2d's spent column matrix), or None.
        self.geometry = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        out_shape = (y.shape[0], w.shape[1] * groups, out_hw[0], out_hw[1])
        return K.conv2d_grad_input(y, w, out_shape, stride, padding, dilation, groups, work=work)

    vjp_rule = VjpRule(
        {"y": "conv2d({g}, {W})", "W": "{g} ⋆ {y} (valid cross-correlation)"},
        plain="a transposed convolution's gradient is a convolution",
        settings={"stride": 1, "padding": 0, "dilation": 1, "groups": 1},
    )

    def backward(self, g: Tensor) -> tuple[Tensor | None, ...]:
        y, w = self.parents
        # <g, Gi(y, w)> = <F(g, w), y> = <w, Gw(g, y)>
        gy = Conv2d.apply(g, w, out_hw=y.shape[2:], **self.geometry) if self.needs_grad[0] else None
        gw = Conv2dGradWeight.apply(g, y, weight_shape=w.shape, **self.geometry) if self.needs_grad[1] else None
        return gy, gw


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int | Pair = 1,
                     padding: int | Pair = 0, output_padding: int | Pair = 0, groups: int = 1,
                     dilation: int | Pair = 1) -> Tensor:
    """2-D transposed convolution: the input gradient of conv2d, used as a layer.

    x: (N, C_in, H, W); weight: (C_in, C_out // groups, KH, KW) (note: in, out);
    bias: (C_out,) or None. Returns (N, C_out, OH, OW) with
    OH = (H - 1)*sh - 2*ph + dh*(KH - 1) + output_padding_h + 1 (same for W).
    `output_padding` adds rows/columns at the bottom/right; it must be smaller
    than the stride or the dilation. It picks among the input sizes that a
    strided conv2d maps to the same output size.
    """
    op = "conv_transpose2d"
    _check_tensor_4d(x, op, "input", "(N, C, H, W)")
    _check_tensor_4d(weight, op, "weight", "(in_channels, out_channels/groups, kH, kW)")
    stride = as_pair(stride, op, "stride", minimum=1)
    padding = as_pair(padding, op, "padding", minimum=0)
    output_padding = as_pair(output_padding, op, "output_padding", minimum=0)
    dilation = as_pair(dilation, op, "dilation", minimum=1)
    groups = _check_groups(groups, op)

    n, c_in, h, w = x.shape
    c_weight, c_out_per_group, kh, kw = weight.shape
    if c_in % groups:
        raise ValueError(f"{op}: groups={groups} must divide the input channels ({c_in}, input shape {x.shape})")
    if c_weight != c_in:
        raise ValueError(
            f"{op}: weight of shape {weight.shape} expects {c_weight} input channels (its first axis), "
            f"but the input of shape {x.shape} has {c_in}"
        )
    for axis, name in enumerate(("height", "width")):
        if output_padding[axis] >= max(stride[axis], dilation[axis]):
            raise ValueError(
                f"{op}: output_padding {output_padding} must be smaller than either the stride {stride} "
                f"or the dilation {dilation} ({name})"
            )
    out_hw = tuple(
        (size - 1) * stride[a] - 2 * padding[a] + dilation[a] * (k - 1) + output_padding[a] + 1
        for a, (size, k) in enumerate(((h, kh), (w, kw)))
    )
    if min(out_hw) < 1:
        raise ValueError(
            f"{op}: the output size {out_hw} is not positive (input shape {x.shape}, weight shape "
            f"{weight.shape}, stride {stride}, padding {padding}, dilation {dilation}); reduce the padding"
        )
    _check_bias(bias, c_out_per_group * groups, op)
    x, weight, bias = promote_floats(x, weight, bias)  # mixed float dtypes: the widest (docs/ops.md, dtypes)
    y = ConvTranspose2d.apply(x, weight, stride=stride, padding=padding, dilation=dilation, groups=groups,
                              out_hw=out_hw)
    return _add_bias(y, bias)


class Conv2dGradWeight(Function):
    """w_like = Gw(x, y): the valid correlation of x (N, C, H, W) with y (N, O, OH, OW), summed over N.

    The weight gradient of `Conv2d` (and, with x and y swapped, of `ConvTranspose2d`).
    """

    @quietly
    def forward(self, x: np.ndarray, y: np.ndarray, *, weight_shape: tuple[int, ...], stride: Pair, padding: Pair,
                dilation: Pair, groups: int, columns: np.ndarray | None = None) -> np.ndarray:
        # columns: the column matrix of x, when the forward convolution kept it.
        self.geometry = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        return K.conv2d_grad_weight(x, y, weight_shape, stride, padding, dilation, groups, columns)

    vjp_rule = VjpRule(
        {"x": "conv_transpose2d({y}, {g})", "y": "conv2d({x}, {g})"},
        plain="the filter-gradient operation differentiated again",
        settings={"stride": 1, "padding": 0, "dilation": 1, "groups": 1},
    )

    def backward(self, g: Tensor) -> tuple[Tensor | None, ...]:
        x, y = self.parents
        # <g, Gw(x, y)> = <F(x, g), y> = <x, Gi(y, g)>
        gx = ConvTranspose2d.apply(y, g, out_hw=x.shape[2:], **self.geometry) if self.needs_grad[0] else None
        gy = Conv2d.apply(x, g, out_hw=y.shape[2:], **self.geometry) if self.needs_grad[1] else None
        return gx, gy


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------


class MaxPool2d(Function):
    """Max over each window; the winner of each window is kept for backward."""

    def forward(self, x: np.ndarray, *, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair) -> np.ndarray:
        self.window = {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation}
        y, self.argmax = K.max_pool2d_forward(x, kernel, stride, padding, dilation)
        return y

    vjp_rule = VjpRule(
        {"x": "{g} routed to each window's argmax (first maximum; overlapping windows add)"},
        plain="each window's gradient goes to the cell that was its maximum; the others get 0",
        settings={"kernel": None, "stride": None, "padding": 0, "dilation": 1},
    )

    def backward(self, g: Tensor) -> tuple[Tensor | None, ...]:
        (x,) = self.parents
        gx = MaxPool2dBackward.apply(g, argmax=self.argmax, input_shape=x.shape, **self.window)
        return (depends_on(gx, x),)  # through the argmax, a mask: see ops.DependsOn


def max_pool2d(x: Tensor, kernel_size: int | Pair, stride: int | Pair | None = None, padding: int | Pair = 0,
               dilation: int | Pair = 1) -> Tensor:
    """Max over each kernel_size window (stride defaults to kernel_size); padding counts as -inf.

    The gradient of each window goes to one position, its first maximum in
    row-major order (as in PyTorch); where windows overlap, the gradients add up.
    """
    kernel, stride, padding, dilation = _pool_arguments("max_pool2d", x, kernel_size, stride, padding, dilation)
    return MaxPool2d.apply(x, kernel=kernel, stride=stride, padding=padding, dilation=dilation)


class MaxPool2dBackward(Function):
    """Send each window's gradient to its (first) maximum; overlapping windows add.

    Linear in g, with the argmax fixed: its VJP reads the incoming gradient at
    the same positions (`MaxPool2dGather`).
    """

    def forward(self, g: np.ndarray, *, argmax: np.ndarray, input_shape: tuple[int, ...], kernel: Pair,
                stride: Pair, padding: Pair, dilation: Pair) -> np.ndarray:
        self.argmax = argmax
        self.window = {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation}
        return K.max_pool2d_backward(g, argmax, input_shape, kernel, stride, padding, dilation)

    vjp_rule = VjpRule(
        {"y": "{g} read at each window's argmax"},
        plain="the routing differentiated again: read where it wrote",
        settings={"kernel": None, "stride": None, "padding": 0, "dilation": 1},
    )

    def backward(self, gg: Tensor) -> tuple[Tensor | None, ...]:
        return (MaxPool2dGather.apply(gg, argmax=self.argmax, **self.window),)


class MaxPool2dGather(Function):
    """For each window, the value of an input-shaped tensor at the window's maximum."""

    def forward(self, g: np.ndarray, *, argmax: np.ndarray, kernel: Pair, stride: Pair, padding: Pair,
                dilation: Pair) -> np.ndarray:
        self.argmax = argmax
        self.window = {"kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation}
        return K.max_pool2d_gather(g, argmax, kernel, stride, padding, dilation)

    vjp_rule = VjpRule(
        {"x": "{g} routed to each window's argmax (overlapping windows add)"},
        plain="the reading differentiated again: route it back",
        settings={"kernel": None, "stride": None, "padding": 0, "dilation": 1},
    )

    def backward(self, h: Tensor) -> tuple[Tensor | None, ...]:
        (g,) = self.parents
        return (MaxPool2dBackward.apply(h, argmax=self.argmax, input_shape=g.shape, **self.window),)


class AvgPool2d(Function):
    """Mean over each window, zero padding counted (PyTorch's count_include_pad=True)."""

    @quietly
    def forward(self, x: np.ndarray, *, kernel: Pair, stride: Pair, padding: Pair) -> np.ndarray:
        self.window = {"kernel": kernel, "stride": stride, "padding": padding}
        return K.avg_pool2d_forward(x, kernel, stride, padding)

    vjp_rule = VjpRule(
        {"x": "{g} spread evenly over each window (g / window size)"},
        plain="every cell of a window counted 1/size in the mean",
        settings={"kernel": None, "stride": None, "padding": 0},
    )

    def backward(self, g: Tensor) -> tuple[Tensor | None, ...]:
        (x,) = self.parents
        # Linear in g and independent of x; tied to x anyway (with derivative 0), as PyTorch does.
        return (depends_on(AvgPool2dBackward.apply(g, input_shape=x.shape, **self.window), x),)


def avg_pool2d(x: Tensor, kernel_size: int | Pair, stride: int | Pair | None = None,
               padding: int | Pair = 0) -> Tensor:
    """Mean over each kernel_size window (stride defaults to kernel_size).

    Zero padding counts in the mean: a window is always divided by KH*KW
    (PyTorch's default, count_include_pad=True).
    """
    kernel, stride, padding, _ = _pool_arguments("avg_pool2d", x, kernel_size, stride, padding, 1)
    return AvgPool2d.apply(x, kernel=kernel, stride=stride, padding=padding)


class AvgPool2dBackward(Function):
    """Spread each window's gradient evenly over the window; its VJP is `AvgPool2d`."""

    def forward(self, g: np.ndarray, *, input_shape: tuple[int, ...], kernel: Pair, stride: Pair,
                padding: Pair) -> np.ndarray:
        self.window = {"kernel": kernel, "stride": stride, "padding": padding}
        return K.avg_pool2d_backward(g, input_shape, kernel, stride, padding)

    vjp_rule = VjpRule(
        {"y": "avg_pool2d({g})"},
        plain="spreading evenly differentiated again: average",
        settings={"kernel": None, "stride": None, "padding": 0},
    )

    def backward(self, gg: Tensor) -> tuple[Tensor | None, ...]:
        return (AvgPool2d.apply(gg, **self.window),)


def adaptive_pool_matrix(size_in: int, size_out: int, dtype: Any) -> np.ndarray:
    """The (size_out, size_in) matrix whose row i averages the input cells of window i.

    PyTorch's rule: window i covers [floor(i * n / m), ceil((i + 1) * n / m)) for
    n input cells and m outputs. When m divides n the windows are n / m cells
    wide and do not overlap; otherwise neighbouring windows may share a cell.
    """
    matrix = np.zeros((size_out, size_in), dtype=dtype)
    for i in range(size_out):
        start = (i * size_in) // size_out
        end = -(-((i + 1) * size_in) // size_out)  # ceiling division
        matrix[i, start:end] = 1 / (end - start)
    return matrix


def adaptive_output_size(output_size: Any, input_hw: Pair, op: str) -> Pair:
    """An int, or a pair whose entries are ints or None (None keeps that input size)."""
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        height, width = (input_hw[i] if size is None else as_int(size, op, "output_size")
                         for i, size in enumerate(output_size))
        sizes = (height, width)
    elif isinstance(output_size, (tuple, list)):
        raise TypeError(f"{op}: output_size must be an int or a pair (height, width), got {output_size!r}")
    else:
        size = as_int(output_size, op, "output_size")
        sizes = (size, size)
    if sizes[0] < 1 or sizes[1] < 1:
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    return sizes


def adaptive_avg_pool2d(x: Tensor, output_size: int | tuple[int | None, int | None]) -> Tensor:
    """Average pooling to a fixed output size, whatever the input's height and width.

    x: (N, C, H, W) or (C, H, W). output_size: an int or (out_h, out_w) (None
    keeps that input size). Window i along an axis of n cells covers
    [floor(i n / m), ceil((i + 1) n / m)), as in PyTorch; output sizes larger
    than the input repeat cells.

    The average over a window of rows times a window of columns is separable,
    so y = A X Bᵀ per channel, with A (out_h, H) and B (out_w, W) the averaging
    matrices of `adaptive_pool_matrix`; the VJP is dL/dX = Aᵀ G B (docs/convolution.md).
    """
    op = "adaptive_avg_pool2d"
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(x).__name__}")
    check_float(x, op, "input")
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: input must be (N, C, H, W) or (C, H, W), got shape {x.shape}")
    height, width = x.shape[-2:]
    if height == 0 or width == 0:
        raise ValueError(f"{op}: input of shape {x.shape} has an empty spatial axis")
    out_h, out_w = adaptive_output_size(output_size, (height, width), op)
    rows = constant(adaptive_pool_matrix(height, out_h, x.dtype))  # (out_h, H)
    columns = constant(adaptive_pool_matrix(width, out_w, x.dtype).T)  # (W, out_w)
    return rows @ x @ columns  # matmul broadcasts the matrices over N and C


# The forwards above never write into their input arrays (see Function.guards_inputs).
trust_forward(Conv2d, ConvTranspose2d, Conv2dGradWeight, MaxPool2d, MaxPool2dBackward, MaxPool2dGather, AvgPool2d,
              AvgPool2dBackward)
