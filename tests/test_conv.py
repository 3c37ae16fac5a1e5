"""Tests of tinygrad_cnn.conv: gradients against finite differences, a worked example, errors.

Everything runs in float64 (finite differences in float32 are too coarse to
check anything). Shapes are tiny: each gradcheck perturbs every input element.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import conv_kernels
from tinygrad_cnn.conv import Conv2d, avg_pool2d, conv2d, conv_transpose2d, max_pool2d


def _tensor(rng: np.random.Generator, *shape: int) -> tg.Tensor:
    return tg.Tensor(rng.standard_normal(shape), requires_grad=True)


@pytest.fixture(params=["channel-major", "sample-major"])
def column_layout(request, monkeypatch):
    """Run a test with each layout of the im2col column matrix (the kernels pick
    one from the number of rows; here every convolution takes the given one)."""
    rows_limit = 0 if request.param == "channel-major" else 10**9
    monkeypatch.setattr(conv_kernels, "SAMPLE_MAJOR_MAX_ROWS", rows_limit)
    return request.param


# ---------------------------------------------------------------------------
# conv2d: sweep of stride x padding x dilation x groups
# ---------------------------------------------------------------------------

CONV_SWEEP = list(itertools.product((1, 2, 3), (0, 1, 2), (1, 2), (1, 2)))


@pytest.mark.parametrize("stride, padding, dilation, groups", CONV_SWEEP)
@pytest.mark.usefixtures("column_layout")
def test_conv2d_gradcheck_sweep(rng, stride, padding, dilation, groups):
    # Non-square input and kernel; batch 1 for stride 3.
    batch = 1 if stride == 3 else 2
    x = _tensor(rng, batch, 4, 6, 5)
    w = _tensor(rng, 4, 4 // groups, 2, 3)
    b = _tensor(rng, 4)

    def f(x, w, b):
        return conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)

    assert tg.gradcheck(f, (x, w, b))


@pytest.mark.parametrize("stride, padding, dilation, groups", CONV_SWEEP)
@pytest.mark.usefixtures("column_layout")
def test_conv2d_gradgradcheck_sweep(rng, stride, padding, dilation, groups):
    x = _tensor(rng, 1, 2, 5, 5)
    w = _tensor(rng, 2, 2 // groups, 2, 3)

    def f(x, w):
        return conv2d(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)

    assert tg.gradgradcheck(f, (x, w))


# Same-size convolutions (stride 1, output as large as the input) copy each
# tap as one shifted run of pixels (conv_kernels._flat_shift).
SAME_SIZE_CASES = [
    ((2, 3, 5, 4), (4, 3, 3, 3), dict(padding=1)),
    ((1, 2, 6, 5), (3, 2, 5, 5), dict(padding=2)),
    ((2, 2, 5, 6), (2, 2, 3, 3), dict(padding=2, dilation=2)),
    ((1, 4, 4, 5), (4, 2, 1, 3), dict(padding=(0, 1), groups=2)),
    ((2, 2, 1, 1), (3, 2, 3, 3), dict(padding=1)),  # every tap but the centre reads padding
    ((1, 2, 2, 7), (2, 2, 5, 3), dict(padding=(2, 1))),  # kernel taller than the image
]


@pytest.mark.parametrize("x_shape, w_shape, settings", SAME_SIZE_CASES)
@pytest.mark.usefixtures("column_layout")
def test_conv2d_same_size_gradcheck_and_gradgradcheck(rng, x_shape, w_shape, settings):
    x = _tensor(rng, *x_shape)
    w = _tensor(rng, *w_shape)
    b = _tensor(rng, w_shape[0])
    assert conv2d(x, w, b, **settings).shape[2:] == x_shape[2:]
    assert tg.gradcheck(lambda x, w, b: conv2d(x, w, b, **settings), (x, w, b))
    assert tg.gradgradcheck(lambda x, w: conv2d(x, w, **settings), (x, w))


@pytest.mark.parametrize("padding, stride", [(1, 1), (0, 2)])
@pytest.mark.usefixtures("column_layout")
def test_conv2d_backward_twice_through_a_retained_graph(rng, padding, stride):
    """The input gradient reuses the forward's column matrix as work memory
    once the weight gradient is done with it: a second backward through the
    retained graph must build the columns again and get the same gradients."""
    x = _tensor(rng, 2, 3, 6, 5)
    w = _tensor(rng, 4, 3, 3, 3)
    b = _tensor(rng, 4)
    y = conv2d(x, w, b, stride=stride, padding=padding)
    g = rng.standard_normal(y.shape)
    y.backward(g, retain_graph=True)
    first = [t.grad.data.copy() for t in (x, w, b)]
    y.backward(g)
    for t, once in zip((x, w, b), first, strict=True):
        np.testing.assert_allclose(t.grad.data, 2 * once, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "x_shape, w_shape, settings",
    [
        ((2, 3, 5, 4), (3, 1, 3, 2), dict(groups=3, padding=1)),  # depthwise
        ((1, 2, 5, 5), (4, 1, 3, 3), dict(groups=2, stride=2, padding=(1, 0))),  # depthwise, multiplier 2
        ((2, 2, 3, 4), (3, 2, 3, 4), {}),  # 1x1 output
        ((1, 3, 4, 3), (2, 3, 1, 1), dict(stride=(2, 1))),  # 1x1 kernel
        ((1, 1, 7, 3), (2, 1, 3, 1), dict(stride=(3, 1), dilation=(2, 1), padding=(2, 0))),
    ],
)
@pytest.mark.usefixtures("column_layout")
def test_conv2d_special_shapes(rng, x_shape, w_shape, settings):
    x = _tensor(rng, *x_shape)
    w = _tensor(rng, *w_shape)

    def f(x, w):
        return conv2d(x, w, **settings)

    assert tg.gradcheck(f, (x, w))
    assert tg.gradgradcheck(f, (x, w))


def test_conv2d_keeps_float32_and_matches_kernel(rng):
    x = tg.Tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32))
    w = tg.Tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    b = tg.Tensor(np.arange(4, dtype=np.float32), requires_grad=True)
    y = conv2d(x, w, b, padding=1)
    assert y.dtype == np.float32 and y.shape == (2, 4, 6, 6)
    expected = conv_kernels.conv2d_forward(x.data, w.data, (1, 1), (1, 1)) + b.data.reshape(1, 4, 1, 1)
    np.testing.assert_allclose(y.data, expected, rtol=1e-6)
    y.sum().backward()
    assert w.grad.dtype == np.float32
    # The bias gradient is the upstream gradient summed over batch, height and width.
    np.testing.assert_allclose(b.grad.data, np.full(4, 2 * 6 * 6, dtype=np.float32))


def test_wrong_filter_gradient_fails_gradcheck(rng):
    """Negative control: a filter gradient computed as a convolution (flipped
    kernel) instead of a correlation must be caught."""

    class FlippedFilterGradConv(Conv2d):
        def backward(self, g):
            gx, gw = super().backward(g)
            return gx, gw[:, :, ::-1, ::-1]

    x = _tensor(rng, 1, 2, 5, 5)
    w = _tensor(rng, 3, 2, 3, 3)

    def f(x, w):
        return FlippedFilterGradConv.apply(x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1)

    assert not tg.gradcheck(f, (x, w), raise_exception=False)


# ---------------------------------------------------------------------------
# The hand-worked example of docs/convolution.md
# ---------------------------------------------------------------------------


@pytest.mark.usefixtures("column_layout")
def test_hand_worked_example():
    x = tg.Tensor(np.array([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]).reshape(1, 1, 3, 3), requires_grad=True)
    w = tg.Tensor(np.array([[1.0, 2], [-1, 0]]).reshape(1, 1, 2, 2), requires_grad=True)
    gy = np.array([[1.0, 2], [-1, 1]]).reshape(1, 1, 2, 2)

    y = conv2d(x, w)
    # y[i, j] = 1*x[i, j] + 2*x[i, j+1] - 1*x[i+1, j] + 0*x[i+1, j+1]
    #   y[0, 0] = 1 + 4 - 4 = 1    y[0, 1] = 2 + 6 - 5 = 3
    #   y[1, 0] = 4 + 10 - 7 = 7   y[1, 1] = 5 + 12 - 8 = 9
    np.testing.assert_array_equal(y.data[0, 0], [[1, 3], [7, 9]])

    y.backward(gy)
    # Filter gradient: valid correlation of the input with the upstream gradient,
    #   gw[a, b] = sum_ij gy[i, j] * x[i+a, j+b]
    #   gw[0, 0] = 1*1 + 2*2 - 1*4 + 1*5 = 6     gw[0, 1] = 1*2 + 2*3 - 1*5 + 1*6 = 9
    #   gw[1, 0] = 1*4 + 2*5 - 1*7 + 1*8 = 15    gw[1, 1] = 1*5 + 2*6 - 1*8 + 1*9 = 18
    np.testing.assert_array_equal(w.grad.data[0, 0], [[6, 9], [15, 18]])
    # Input gradient: full convolution of gy with the kernel rotated by 180 degrees,
    # i.e. every gy[i, j] adds gy[i, j] * w onto the window x[i:i+2, j:j+2] it came from.
    np.testing.assert_array_equal(x.grad.data[0, 0], [[1, 4, 4], [-2, -3, 2], [1, -1, 0]])

    # The same input gradient as a "full" correlation of the zero-padded gy with the rotated kernel.
    gy_padded = np.pad(gy[0, 0], 1)
    w_rotated = w.data[0, 0, ::-1, ::-1]
    full = np.array([[np.sum(gy_padded[p : p + 2, q : q + 2] * w_rotated) for q in range(3)] for p in range(3)])
    np.testing.assert_array_equal(full, x.grad.data[0, 0])


def test_stride_dilates_the_upstream_gradient():
    """With stride 2 the input gradient is the stride-1 one for gy with zeros between its entries."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 1, 5, 5))
    w = rng.standard_normal((1, 1, 3, 3))
    gy = rng.standard_normal((1, 1, 2, 2))
    strided = conv_kernels.conv2d_grad_input(gy, w, x.shape, stride=(2, 2))
    gy_dilated = np.zeros((1, 1, 3, 3))
    gy_dilated[:, :, ::2, ::2] = gy
    dense = conv_kernels.conv2d_grad_input(gy_dilated, w, x.shape)
    np.testing.assert_allclose(strided, dense, rtol=1e-12)


# ---------------------------------------------------------------------------
# conv_transpose2d
# ---------------------------------------------------------------------------

TRANSPOSE_CASES = [
    # stride, padding, output_padding, dilation, groups
    (1, 0, 0, 1, 1),
    (2, 1, 1, 1, 1),
    (3, 2, 2, 1, 2),
    ((2, 1), (1, 0), (1, 0), (1, 2), 1),
    (1, 1, 1, 2, 2),  # output_padding allowed by the dilation: its input gradient is cropped
    (2, 0, 0, 2, 2),
]


@pytest.mark.parametrize("stride, padding, output_padding, dilation, groups", TRANSPOSE_CASES)
@pytest.mark.usefixtures("column_layout")
def test_conv_transpose2d_gradcheck(rng, stride, padding, output_padding, dilation, groups):
    x = _tensor(rng, 2, 4, 3, 4)
    w = _tensor(rng, 4, 4 // groups, 3, 2)
    b = _tensor(rng, 4)

    def f(x, w, b):
        return conv_transpose2d(x, w, b, stride=stride, padding=padding, output_padding=output_padding,
                                groups=groups, dilation=dilation)

    assert tg.gradcheck(f, (x, w, b))
    x_small = _tensor(rng, 1, 2, 3, 3)
    w_small = _tensor(rng, 2, 2 // groups, 2, 2)

    def g(x, w):
        return conv_transpose2d(x, w, stride=stride, padding=padding, output_padding=output_padding,
                                groups=groups, dilation=dilation)

    assert tg.gradgradcheck(g, (x_small, w_small))


def test_conv_transpose2d_output_size():
    x = tg.Tensor(np.ones((1, 2, 4, 5)))
    w = tg.Tensor(np.ones((2, 3, 3, 3)))
    # (H - 1)*s - 2p + d*(k - 1) + output_padding + 1
    assert conv_transpose2d(x, w, stride=2, padding=1, output_padding=1).shape == (1, 3, 8, 10)
    assert conv_transpose2d(x, w, stride=(2, 3), dilation=(1, 2)).shape == (1, 3, 9, 17)


@pytest.mark.usefixtures("column_layout")
def test_conv_transpose2d_is_adjoint_of_conv2d(rng):
    """<conv2d(x, w), y> = <x, conv_transpose2d(y, w)> for the same stride/padding/dilation."""
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((6, 2, 3, 2))
    settings = dict(stride=2, padding=1, dilation=(1, 2), groups=2)
    y = conv2d(tg.Tensor(x), tg.Tensor(w), **settings)
    v = rng.standard_normal(y.shape)
    # output_padding recovers the rows the stride drops: 7 -> 4 -> 7.
    back = conv_transpose2d(tg.Tensor(v), tg.Tensor(w), output_padding=(0, 1), **settings)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.vdot(y.data, v), np.vdot(x, back.data), rtol=1e-12)


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------

POOL_CASES = [
    # kernel, stride, padding, input H x W
    (2, None, 0, (6, 4)),  # the fast path: kernel == stride
    (2, 2, 0, (5, 7)),  # a leftover row and column
    (3, 2, 1, (5, 6)),  # overlapping windows, padding
    ((3, 2), (1, 2), (1, 1), (4, 5)),
    (3, 3, 0, (3, 3)),  # 1x1 output
    (2, 2, 1, (5, 6)),  # windows that do not overlap, with padding
    ((1, 3), 1, (0, 1), (3, 4)),
]


@pytest.mark.parametrize("kernel, stride, padding, hw", POOL_CASES)
def test_max_pool2d_gradcheck(rng, kernel, stride, padding, hw):
    # A permutation keeps every value distinct, so no window has a tie that a
    # finite-difference step could flip.
    values = rng.permutation(2 * 3 * hw[0] * hw[1]).astype(np.float64) / 10
    x = tg.Tensor(values.reshape(2, 3, *hw), requires_grad=True)

    def f(x):
        return max_pool2d(x, kernel, stride, padding)

    assert tg.gradcheck(f, (x,))
    assert tg.gradgradcheck(f, (x,))


@pytest.mark.parametrize("stride", [1, 3], ids=["overlapping", "apart"])
def test_max_pool2d_dilation(rng, stride):
    values = rng.permutation(2 * 7 * 6).astype(np.float64)
    x = tg.Tensor(values.reshape(1, 2, 7, 6), requires_grad=True)
    assert tg.gradcheck(lambda x: max_pool2d(x, 2, stride, 1, dilation=2), (x,))


def test_max_pool2d_routes_to_first_maximum_and_overlaps_add():
    x = tg.Tensor(np.array([[5.0, 5, 1], [5, 2, 1], [0, 0, 0]]).reshape(1, 1, 3, 3), requires_grad=True)
    y = max_pool2d(x, 2, stride=1)
    np.testing.assert_array_equal(y.data[0, 0], [[5, 5], [5, 2]])
    y.backward(np.array([[1.0, 10], [100, 1000]]).reshape(1, 1, 2, 2))
    # Windows 0, 1 and 2 tie on 5s: each picks its first 5 in row-major order.
    # Window (0,0) -> x[0,0]; window (0,1) -> x[0,1]; window (1,0) -> x[1,0];
    # window (1,1) has its maximum 2 at x[1,1].
    np.testing.assert_array_equal(x.grad.data[0, 0], [[1, 10, 0], [100, 1000, 0], [0, 0, 0]])

    x2 = tg.Tensor(np.array([[0.0, 9, 0], [0, 0, 0]]).reshape(1, 1, 2, 3), requires_grad=True)
    max_pool2d(x2, 2, stride=1).backward(np.array([[1.0, 2]]).reshape(1, 1, 1, 2))
    # Both overlapping windows choose the 9: its gradient is the sum 1 + 2.
    np.testing.assert_array_equal(x2.grad.data[0, 0], [[0, 3, 0], [0, 0, 0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.uint8])
@pytest.mark.parametrize("hw", [(6, 8), (7, 5), (2, 2), (3, 9)])
def test_max_pool2d_2x2_shortcut_picks_the_first_maximum(dtype, hw):
    # The usual 2x2, stride-2 pool has a kernel of its own (a two-round
    # tournament); with few distinct values almost every window has ties.
    rng = np.random.default_rng(7)
    x = rng.integers(0, 3, size=(2, 3, *hw)).astype(dtype)
    y, argmax = conv_kernels.max_pool2d_forward(x, (2, 2), (2, 2))
    oh, ow = hw[0] // 2, hw[1] // 2
    windows = x[:, :, : 2 * oh, : 2 * ow].reshape(2, 3, oh, 2, ow, 2).transpose(0, 1, 2, 4, 3, 5)
    windows = windows.reshape(2, 3, oh, ow, 4)  # the four taps in row-major order
    np.testing.assert_array_equal(argmax, windows.argmax(axis=-1))  # argmax: the first maximum
    np.testing.assert_array_equal(y, windows.max(axis=-1))
    assert y.dtype == x.dtype and argmax.dtype == np.uint8 and y.flags.c_contiguous


def test_max_pool2d_padding_is_minus_infinity():
    x = tg.Tensor(-np.ones((1, 1, 2, 2)))
    y = max_pool2d(x, 3, stride=1, padding=1)
    np.testing.assert_array_equal(y.data, -np.ones((1, 1, 2, 2)))


@pytest.mark.parametrize("kernel, stride, padding, hw", POOL_CASES)
def test_avg_pool2d_gradcheck(rng, kernel, stride, padding, hw):
    x = _tensor(rng, 2, 2, *hw)

    def f(x):
        return avg_pool2d(x, kernel, stride, padding)

    assert tg.gradcheck(f, (x,))
    assert tg.gradgradcheck(f, (x,))


def test_avg_pool2d_counts_padding():
    x = tg.Tensor(np.ones((1, 1, 2, 2)))
    y = avg_pool2d(x, 3, stride=1, padding=1)
    # Each window holds the four ones and five zeros of padding.
    np.testing.assert_allclose(y.data, np.full((1, 1, 2, 2), 4 / 9))


def test_third_order_max_pool_chain(rng):
    """backward -> gather -> backward: the chain of VJPs keeps going."""
    x = tg.Tensor(rng.permutation(16).astype(np.float64).reshape(1, 1, 4, 4), requires_grad=True)
    y = max_pool2d(x, 2)
    v = tg.Tensor(rng.standard_normal(y.shape), requires_grad=True)
    (gx,) = tg.grad(y, x, grad_outputs=v, create_graph=True)
    u = tg.Tensor(rng.standard_normal(x.shape), requires_grad=True)
    (gv,) = tg.grad(gx, v, grad_outputs=u, create_graph=True)
    (gu,) = tg.grad(gv, u, grad_outputs=v)
    # gx routes v to the argmaxes; gv gathers u there; gu routes v again: gu == gx.
    np.testing.assert_allclose(gu.data, gx.data)


# ---------------------------------------------------------------------------
# Error messages
# ---------------------------------------------------------------------------


def _x(*shape: int) -> tg.Tensor:
    return tg.Tensor(np.zeros(shape))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: conv2d(_x(3, 8, 8), _x(4, 3, 3, 3)), r"conv2d: input must be 4-D .* got shape \(3, 8, 8\)"),
        (lambda: conv2d(_x(1, 3, 8, 8), _x(4, 3, 3)), r"conv2d: weight must be 4-D"),
        (lambda: conv2d(_x(1, 3, 8, 8), _x(4, 2, 3, 3)),
         r"conv2d: weight of shape \(4, 2, 3, 3\) with groups=1 expects 2 input channels, .*\(1, 3, 8, 8\) has 3"),
        (lambda: conv2d(_x(1, 4, 8, 8), _x(3, 2, 3, 3), groups=2),
         r"conv2d: groups=2 must divide .* output channels \(3, weight shape \(3, 2, 3, 3\)\)"),
        (lambda: conv2d(_x(1, 3, 8, 8), _x(4, 1, 3, 3), groups=2), r"conv2d: groups=2 must divide both"),
        (lambda: conv2d(_x(1, 3, 8, 8), _x(4, 3, 3, 3), groups=0), r"conv2d: groups must be a positive int"),
        (lambda: conv2d(_x(1, 3, 4, 4), _x(4, 3, 5, 5)),
         r"conv2d: kernel of size \(5, 5\) .* larger than the padded input of size \(4, 4\)"),
        (lambda: conv2d(_x(1, 3, 4, 4), _x(4, 3, 3, 3), dilation=2),
         r"conv2d: kernel of size \(3, 3\) \(spanning \(5, 5\) with dilation \(2, 2\)\)"),
        (lambda: conv2d(_x(1, 3, 8, 8), _x(4, 3, 3, 3), stride=0), r"conv2d: stride must be positive, got \(0, 0\)"),
        (lambda: conv2d(_x(1, 3, 8, 8), _x(4, 3, 3, 3), padding=(1, -1)),
         r"conv2d: padding must be non-negative, got \(1, -1\)"),
        (lambda: conv2d(_x(1, 3, 8, 8), _x(4, 3, 3, 3), bias=_x(3)),
         r"conv2d: bias must have shape \(4,\) .* got \(3,\)"),
        (lambda: conv_transpose2d(_x(1, 3, 4, 4), _x(2, 3, 3, 3)),
         r"conv_transpose2d: weight of shape \(2, 3, 3, 3\) expects 2 input channels .* \(1, 3, 4, 4\) has 3"),
        (lambda: conv_transpose2d(_x(1, 3, 4, 4), _x(3, 3, 3, 3), groups=2), r"conv_transpose2d: groups=2 must divide"),
        (lambda: conv_transpose2d(_x(1, 2, 4, 4), _x(2, 3, 3, 3), stride=2, output_padding=2),
         r"conv_transpose2d: output_padding \(2, 2\) must be smaller than either the stride \(2, 2\)"),
        (lambda: conv_transpose2d(_x(1, 2, 1, 1), _x(2, 3, 3, 3), padding=2),
         r"conv_transpose2d: the output size \(-1, -1\) is not positive"),
        (lambda: conv_transpose2d(_x(2, 4, 4), _x(2, 3, 3, 3)), r"conv_transpose2d: input must be 4-D"),
        (lambda: max_pool2d(_x(1, 1, 4, 4), 2, padding=2), r"max_pool2d: padding \(2, 2\) must be at most half"),
        (lambda: max_pool2d(_x(1, 1, 2, 2), 3),
         r"max_pool2d: kernel of size \(3, 3\) .* padded input of size \(2, 2\)"),
        (lambda: max_pool2d(_x(1, 1, 4, 4), 2, stride=0), r"max_pool2d: stride must be positive"),
        (lambda: max_pool2d(_x(4, 4), 2), r"max_pool2d: input must be 4-D .* got shape \(4, 4\)"),
        (lambda: avg_pool2d(_x(1, 1, 4, 4), 0), r"avg_pool2d: kernel_size must be positive"),
        (lambda: avg_pool2d(_x(1, 1, 4, 4), 3, padding=2), r"avg_pool2d: padding \(2, 2\) must be at most half"),
    ],
)
def test_error_messages(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_type_errors():
    with pytest.raises(TypeError, match=r"conv2d: stride must be an int or a pair of ints, got \(1, 2, 3\)"):
        conv2d(_x(1, 3, 8, 8), _x(4, 3, 3, 3), stride=(1, 2, 3))
    with pytest.raises(TypeError, match=r"conv2d: input must be a Tensor, got ndarray"):
        conv2d(np.zeros((1, 3, 8, 8)), _x(4, 3, 3, 3))
    with pytest.raises(TypeError, match=r"max_pool2d: kernel_size must be an int or a pair of ints, got 2.0"):
        max_pool2d(_x(1, 1, 4, 4), 2.0)
    with pytest.raises(TypeError, match=r"avg_pool2d: input must be a floating-point tensor, got dtype int64"):
        avg_pool2d(tg.Tensor(np.zeros((1, 1, 4, 4), dtype=np.int64)), 2)


def test_max_pool2d_of_integers_keeps_dtype():
    x = tg.Tensor(np.arange(16, dtype=np.uint8).reshape(1, 1, 4, 4))
    y = max_pool2d(x, 2, padding=1)
    assert y.dtype == np.uint8
    np.testing.assert_array_equal(y.data[0, 0], [[0, 2, 3], [8, 10, 11], [12, 14, 15]])


@pytest.mark.usefixtures("column_layout")
def test_kernel_results_do_not_share_scratch_memory(rng):
    """The kernels reuse work buffers between calls; their results must be fresh arrays.

    Batch 1 and no padding is the case where a transposed scratch view is
    already contiguous, so forgetting to copy would go unnoticed elsewhere.
    """
    x = rng.standard_normal((1, 2, 5, 4))
    w = rng.standard_normal((3, 2, 2, 2))
    gy = rng.standard_normal((1, 3, 4, 3))
    results = [
        conv_kernels.conv2d_forward(x, w),
        conv_kernels.conv2d_grad_input(gy, w, x.shape),
        conv_kernels.conv2d_grad_weight(x, gy, w.shape),
    ]
    saved = [r.copy() for r in results]
    # Calls of every size overwrite the scratch buffers.
    conv_kernels.conv2d_forward(rng.standard_normal((2, 2, 6, 6)), w, padding=(1, 1))
    conv_kernels.conv2d_grad_input(rng.standard_normal((2, 3, 5, 5)), w, (2, 2, 6, 6))
    for result, copy in zip(results, saved, strict=True):
        np.testing.assert_array_equal(result, copy)


@pytest.mark.parametrize("stride, padding, groups", [(1, 0, 1), (2, 1, 1), (1, 2, 2), (3, 1, 4)])
@pytest.mark.usefixtures("column_layout")
def test_conv2d_with_bias_gradcheck_and_gradgradcheck(rng, stride, padding, groups):
    """The bias is a third input of the Conv2d primitive (added while the
    output is copied): its gradient and second derivatives are checked too."""
    x = _tensor(rng, 2, 4, 6, 5)
    w = _tensor(rng, 4, 4 // groups, 3, 2)
    b = _tensor(rng, 4)

    def f(x, w, b):
        return conv2d(x, w, b, stride=stride, padding=padding, groups=groups)

    assert tg.gradcheck(f, (x, w, b))
    assert tg.gradgradcheck(f, (x, w, b))
