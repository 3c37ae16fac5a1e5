"""Compare the numpy kernels in ``tinygrad_cnn.conv_kernels`` with PyTorch (float64).

Skipped when PyTorch is not installed; the rest of the suite does not need it.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import conv
from tinygrad_cnn import conv_kernels as K

torch = pytest.importorskip("torch")
F = torch.nn.functional

# (N, C, H, W, O, KH, KW, stride, padding, dilation, groups)
CONV_CASES = [
    (2, 3, 7, 6, 4, 3, 3, (1, 1), (0, 0), (1, 1), 1),
    (2, 3, 7, 6, 4, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    (2, 3, 7, 6, 4, 3, 3, (1, 1), (2, 2), (1, 1), 1),
    (2, 4, 9, 8, 6, 3, 2, (2, 2), (1, 0), (1, 1), 2),
    (1, 4, 10, 9, 4, 2, 3, (3, 2), (2, 1), (2, 1), 2),
    (2, 4, 8, 8, 4, 3, 3, (2, 2), (1, 1), (1, 1), 4),  # depthwise
    (1, 4, 8, 8, 8, 3, 3, (1, 1), (1, 1), (2, 2), 4),  # depthwise, multiplier 2
    (1, 2, 5, 5, 3, 5, 5, (1, 1), (0, 0), (1, 1), 1),  # 1x1 output
    (2, 2, 4, 4, 3, 3, 3, (3, 3), (1, 1), (1, 1), 1),  # stride leaves rows unused
    (1, 3, 11, 7, 2, 3, 1, (3, 1), (2, 0), (2, 1), 1),
    (3, 2, 6, 9, 2, 1, 1, (2, 3), (0, 2), (1, 1), 2),  # 1x1 kernel
]
# Same-size convolutions (stride 1, output as large as the input), which have
# their own im2col and col2im: odd kernels, dilation, one-sided kernels, groups,
# images smaller than the kernel (taps that read only padding).
CONV_CASES += [
    (2, 3, 5, 4, 4, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    (1, 2, 6, 5, 3, 5, 5, (1, 1), (2, 2), (1, 1), 1),
    (2, 2, 5, 6, 2, 3, 3, (1, 1), (2, 2), (2, 2), 1),
    (1, 4, 4, 5, 4, 1, 3, (1, 1), (0, 1), (1, 1), 2),
    (2, 2, 1, 1, 3, 3, 3, (1, 1), (1, 1), (1, 1), 1),
    (1, 2, 2, 7, 2, 5, 3, (1, 1), (2, 1), (1, 1), 1),
]
# A generated sweep over stride x padding x dilation x groups on a non-square input.
CONV_CASES += [
    (2, 4, 9, 8, 6, 3, 2, (s, s), (p, p), (d, d), g)
    for s, p, d, g in itertools.product((1, 2, 3), (0, 1, 2), (1, 2), (1, 2))
]


def _case_id(case):
    n, c, h, w, o, kh, kw, s, p, d, g = case
    return f"x{n}x{c}x{h}x{w}-w{o}x{c // g}x{kh}x{kw}-s{s[0]}{s[1]}-p{p[0]}{p[1]}-d{d[0]}{d[1]}-g{g}"


@pytest.mark.parametrize("case", CONV_CASES, ids=_case_id)
def test_conv2d_kernels_match_torch(case):
    n, c, h, w, o, kh, kw, stride, padding, dilation, groups = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((o, c // groups, kh, kw))

    xt = torch.tensor(x, requires_grad=True)
    wtt = torch.tensor(wt, requires_grad=True)
    yt = F.conv2d(xt, wtt, stride=stride, padding=padding, dilation=dilation, groups=groups)
    gy = rng.standard_normal(tuple(yt.shape))
    gxt, gwt = torch.autograd.grad(yt, (xt, wtt), torch.tensor(gy))

    y = K.conv2d_forward(x, wt, stride, padding, dilation, groups)
    assert y.dtype == np.float64 and y.flags.c_contiguous
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    gx = K.conv2d_grad_input(gy, wt, x.shape, stride, padding, dilation, groups)
    np.testing.assert_allclose(gx, gxt.numpy(), rtol=1e-10, atol=1e-10)
    gw = K.conv2d_grad_weight(x, gy, wt.shape, stride, padding, dilation, groups)
    np.testing.assert_allclose(gw, gwt.numpy(), rtol=1e-10, atol=1e-10)


# (N, C_in, H, W, C_out, KH, KW, stride, padding, output_padding, dilation, groups)
TRANSPOSE_CASES = [
    (2, 4, 5, 4, 3, 3, 3, (1, 1), (0, 0), (0, 0), (1, 1), 1),
    (2, 4, 5, 4, 6, 3, 2, (2, 2), (1, 0), (1, 1), (1, 1), 2),
    (1, 4, 4, 5, 2, 2, 3, (3, 2), (1, 1), (2, 0), (1, 2), 2),
    (2, 3, 3, 3, 3, 3, 3, (2, 2), (1, 1), (0, 1), (1, 1), 3),  # depthwise
    (1, 2, 4, 4, 2, 3, 3, (1, 1), (2, 2), (1, 1), (2, 2), 1),  # output_padding < dilation
]


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose2d_is_grad_input(case):
    n, ci, h, w, co, kh, kw, stride, padding, out_pad, dilation, groups = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, ci, h, w))
    wt = rng.standard_normal((ci, co // groups, kh, kw))
    xt = torch.tensor(x, requires_grad=True)
    wtt = torch.tensor(wt, requires_grad=True)
    yt = F.conv_transpose2d(xt, wtt, stride=stride, padding=padding, output_padding=out_pad,
                            groups=groups, dilation=dilation)
    gy = rng.standard_normal(tuple(yt.shape))
    gxt, gwt = torch.autograd.grad(yt, (xt, wtt), torch.tensor(gy))

    # Forward of the transposed conv: the input gradient of the matching conv2d.
    y = K.conv2d_grad_input(x, wt, yt.shape, stride, padding, dilation, groups)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    # Its input gradient: a conv2d forward (cropped to x's size when output_padding
    # reaches a whole stride).
    gx = K.conv2d_forward(gy, wt, stride, padding, dilation, groups, out_hw=(h, w))
    np.testing.assert_allclose(gx, gxt.numpy(), rtol=1e-10, atol=1e-10)
    # Its weight gradient: the conv2d weight gradient with input and output swapped.
    gw = K.conv2d_grad_weight(gy, x, wt.shape, stride, padding, dilation, groups)
    np.testing.assert_allclose(gw, gwt.numpy(), rtol=1e-10, atol=1e-10)


def test_conv2d_keeps_float32():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    y = K.conv2d_forward(x, w, (1, 1), (1, 1))
    assert y.dtype == np.float32
    gy = np.ones_like(y)
    assert K.conv2d_grad_input(gy, w, x.shape, (1, 1), (1, 1)).dtype == np.float32
    assert K.conv2d_grad_weight(x, gy, w.shape, (1, 1), (1, 1)).dtype == np.float32
    expected = F.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


# (N, C, H, W, kernel, stride, padding, dilation)
POOL_CASES = [
    (2, 3, 8, 8, (2, 2), (2, 2), (0, 0), (1, 1)),  # fast path
    (2, 3, 9, 7, (2, 2), (2, 2), (0, 0), (1, 1)),  # leftover row/column
    (2, 3, 7, 7, (3, 3), (2, 2), (1, 1), (1, 1)),  # overlapping, padded
    (1, 2, 8, 9, (3, 2), (1, 2), (1, 1), (1, 1)),
    (1, 2, 9, 9, (3, 3), (3, 3), (1, 0), (1, 1)),
    (2, 2, 10, 9, (2, 3), (1, 1), (0, 1), (2, 1)),  # dilation (max-pool only)
    (1, 1, 3, 3, (3, 3), (1, 1), (0, 0), (1, 1)),  # 1x1 output
    (2, 2, 6, 5, (1, 1), (2, 2), (0, 0), (1, 1)),
]


@pytest.mark.parametrize("case", POOL_CASES)
def test_max_pool2d_matches_torch(case):
    n, c, h, w, kernel, stride, padding, dilation = case
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, c, h, w))
    xt = torch.tensor(x, requires_grad=True)
    yt = F.max_pool2d(xt, kernel, stride, padding, dilation)
    gy = rng.standard_normal(tuple(yt.shape))
    (gxt,) = torch.autograd.grad(yt, (xt,), torch.tensor(gy))

    y, argmax = K.max_pool2d_forward(x, kernel, stride, padding, dilation)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    gx = K.max_pool2d_backward(gy, argmax, x.shape, kernel, stride, padding, dilation)
    np.testing.assert_allclose(gx, gxt.numpy(), rtol=1e-12, atol=1e-12)
    # Gathering x at the argmax reproduces y; gathering is the adjoint of backward.
    np.testing.assert_array_equal(K.max_pool2d_gather(x, argmax, kernel, stride, padding, dilation), y)
    g = rng.standard_normal(x.shape)
    lhs = np.vdot(gx, g)
    rhs = np.vdot(gy, K.max_pool2d_gather(g, argmax, kernel, stride, padding, dilation))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)


@pytest.mark.parametrize("kernel, stride", [((2, 2), (2, 2)), ((3, 3), (1, 1)), ((3, 2), (2, 1))])
def test_max_pool2d_ties_route_to_first_maximum(kernel, stride):
    # Few distinct values: many ties, inside windows and between overlapping windows.
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, size=(2, 2, 7, 8)).astype(np.float64)
    xt = torch.tensor(x, requires_grad=True)
    yt = F.max_pool2d(xt, kernel, stride)
    gy = rng.standard_normal(tuple(yt.shape))
    (gxt,) = torch.autograd.grad(yt, (xt,), torch.tensor(gy))
    y, argmax = K.max_pool2d_forward(x, kernel, stride)
    gx = K.max_pool2d_backward(gy, argmax, x.shape, kernel, stride)
    np.testing.assert_allclose(gx, gxt.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", [c for c in POOL_CASES if c[7] == (1, 1)])
def test_avg_pool2d_matches_torch(case):
    n, c, h, w, kernel, stride, padding, _ = case
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, c, h, w))
    xt = torch.tensor(x, requires_grad=True)
    yt = F.avg_pool2d(xt, kernel, stride, padding)  # count_include_pad=True
    gy = rng.standard_normal(tuple(yt.shape))
    (gxt,) = torch.autograd.grad(yt, (xt,), torch.tensor(gy))

    y = K.avg_pool2d_forward(x, kernel, stride, padding)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    gx = K.avg_pool2d_backward(gy, x.shape, kernel, stride, padding)
    np.testing.assert_allclose(gx, gxt.numpy(), rtol=1e-12, atol=1e-12)


def test_pools_keep_float32():
    x = np.random.default_rng(6).standard_normal((1, 2, 6, 6)).astype(np.float32)
    y, argmax = K.max_pool2d_forward(x, (2, 2), (2, 2))
    assert y.dtype == np.float32 and argmax.dtype == np.uint8
    assert K.max_pool2d_backward(y, argmax, x.shape, (2, 2), (2, 2)).dtype == np.float32
    assert K.avg_pool2d_forward(x, (3, 3), (1, 1), (1, 1)).dtype == np.float32
    assert K.avg_pool2d_backward(y, x.shape, (2, 2), (2, 2)).dtype == np.float32


# ---------------------------------------------------------------------------
# The public functions of tinygrad_cnn.conv, including second derivatives
# ---------------------------------------------------------------------------


def _both(rng, *shape):
    """The same random float64 values as a tinygrad_cnn Tensor and a torch tensor."""
    values = rng.standard_normal(shape)
    return tg.Tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)


PUBLIC_CASES = [
    # function name (the same in both libraries), settings, x shape, w shape
    ("conv2d", dict(stride=2, padding=1, dilation=1, groups=1), (2, 4, 7, 6), (6, 4, 3, 2)),
    ("conv2d", dict(stride=(1, 2), padding=(2, 0), dilation=(2, 1), groups=2), (1, 4, 8, 7), (4, 2, 2, 3)),
    ("conv_transpose2d", dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1), (2, 4, 3, 4), (4, 3, 3, 3)),
    ("conv_transpose2d", dict(stride=1, padding=1, output_padding=1, groups=1, dilation=2), (1, 2, 3, 3), (2, 3, 2, 2)),
]


@pytest.mark.parametrize("name, settings, x_shape, w_shape", PUBLIC_CASES)
def test_public_conv_first_and_second_derivatives_match_torch(name, settings, x_shape, w_shape):
    rng = np.random.default_rng(8)
    x, xt = _both(rng, *x_shape)
    w, wt = _both(rng, *w_shape)
    out_channels = w_shape[0] if name == "conv2d" else w_shape[1] * settings["groups"]
    b, bt = _both(rng, out_channels)

    y = getattr(conv, name)(x, w, b, **settings)
    yt = getattr(F, name)(xt, wt, bt, **settings)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-10, atol=1e-10)

    v = rng.standard_normal(y.shape)
    grads = tg.grad(y, [x, w, b], grad_outputs=tg.Tensor(v), create_graph=True)
    grads_t = torch.autograd.grad(yt, [xt, wt, bt], torch.tensor(v), create_graph=True)
    for ours_g, torch_g in zip(grads, grads_t, strict=True):
        np.testing.assert_allclose(ours_g.data, torch_g.detach().numpy(), rtol=1e-10, atol=1e-10)

    # Second derivatives: differentiate a random projection of (dL/dx, dL/dw).
    ux = rng.standard_normal(x_shape)
    uw = rng.standard_normal(w_shape)
    second = tg.grad([grads[0], grads[1]], [x, w], grad_outputs=[tg.Tensor(ux), tg.Tensor(uw)])
    second_t = torch.autograd.grad([grads_t[0], grads_t[1]], [xt, wt], [torch.tensor(ux), torch.tensor(uw)])
    for ours_g, torch_g in zip(second, second_t, strict=True):
        np.testing.assert_allclose(ours_g.data, torch_g.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "kernel_size, stride, padding, dilation", [(2, None, 0, 1), (3, 2, 1, 1), ((3, 2), 1, (1, 0), (1, 2))]
)
def test_public_pools_match_torch(kernel_size, stride, padding, dilation):
    rng = np.random.default_rng(9)
    x, xt = _both(rng, 2, 3, 7, 8)
    y = conv.max_pool2d(x, kernel_size, stride, padding, dilation)
    yt = F.max_pool2d(xt, kernel_size, stride, padding, dilation)
    np.testing.assert_array_equal(y.data, yt.detach().numpy())
    v = rng.standard_normal(y.shape)
    (gx,) = tg.grad(y, x, grad_outputs=tg.Tensor(v))
    (gxt,) = torch.autograd.grad(yt, xt, torch.tensor(v))
    np.testing.assert_allclose(gx.data, gxt.numpy(), rtol=1e-12, atol=1e-12)

    if dilation == 1:
        y = conv.avg_pool2d(x, kernel_size, stride, padding)
        yt = F.avg_pool2d(xt, kernel_size, stride, padding)
        np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
        (gx,) = tg.grad(y, x, grad_outputs=tg.Tensor(v))
        (gxt,) = torch.autograd.grad(yt, xt, torch.tensor(v))
        np.testing.assert_allclose(gx.data, gxt.numpy(), rtol=1e-12, atol=1e-12)
