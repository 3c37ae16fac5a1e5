"""Tests of tinygrad_cnn.functional: forward values against independent numpy
formulas, gradients against finite differences (gradcheck and gradgradcheck in
float64, random upstream gradients), numerical stability, dropout statistics,
batch-norm running statistics, error messages, and (at the end, skipped without
PyTorch) values and gradients against torch.nn.functional."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import functional as F
from tinygrad_cnn.tensor import Tensor

REDUCTIONS = ["mean", "sum", "none"]


def t64(array: np.ndarray, requires_grad: bool = True) -> Tensor:
    return Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def reduce_np(loss: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def log_softmax_np(x: np.ndarray, axis: int) -> np.ndarray:
    """Reference log-softmax in float64, written independently of the library."""
    x = x.astype(np.float64)
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def grads_of(loss: Tensor, *inputs: Tensor) -> list[np.ndarray]:
    return [g.data for g in tg.grad(loss, list(inputs))]


# ---------------------------------------------------------------------------
# linear
# ---------------------------------------------------------------------------

LINEAR_SHAPES = [((5,), 3), ((4, 5), 3), ((2, 3, 5), 2), ((1, 1), 1), ((2, 1, 2, 3), 4)]


@pytest.mark.parametrize("x_shape, out_features", LINEAR_SHAPES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_values_and_gradients(rng, x_shape, out_features, with_bias):
    x = t64(rng.standard_normal(x_shape))
    w = t64(rng.standard_normal((out_features, x_shape[-1])))
    b = t64(rng.standard_normal(out_features)) if with_bias else None
    expected = x.data @ w.data.T + (b.data if with_bias else 0)
    out = F.linear(x, w, b)
    assert out.shape == x_shape[:-1] + (out_features,)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    inputs = [x, w, b] if with_bias else [x, w]

    def fn(*args):
        return F.linear(*args)

    assert tg.gradcheck(fn, inputs)
    assert tg.gradgradcheck(fn, inputs)


@pytest.mark.parametrize("x_shape", [(7,), (3, 7), (2, 3, 7)])
def test_linear_is_one_node(rng, x_shape):
    x = t64(rng.standard_normal(x_shape))
    w = t64(rng.standard_normal((4, 7)))
    b = t64(rng.standard_normal(4))
    out = F.linear(x, w, b)
    assert type(out.grad_fn) is F.Linear
    assert out.grad_fn.parents == (x, w, b)
    assert type(F.linear(x, w).grad_fn) is F.Linear and len(F.linear(x, w).grad_fn.parents) == 2


@pytest.mark.parametrize("needs", [(False, True, True), (True, False, False), (False, False, True)])
def test_linear_gradients_when_only_some_inputs_require_grad(rng, needs):
    arrays = [rng.standard_normal((2, 3, 5)), rng.standard_normal((3, 5)), rng.standard_normal(3)]
    inputs = [Tensor(a, requires_grad=n) for a, n in zip(arrays, needs)]
    assert tg.gradcheck(F.linear, inputs)
    assert tg.gradgradcheck(F.linear, inputs)
    out = F.linear(*inputs)
    out.backward(np.ones(out.shape))
    for tensor, needed in zip(inputs, needs):
        assert (tensor.grad is not None) == needed


def test_linear_with_an_empty_batch_and_a_wider_bias_dtype(rng):
    x = t64(np.zeros((0, 5)))
    w = t64(rng.standard_normal((3, 5)))
    out = F.linear(x, w, t64(np.ones(3)))
    assert out.shape == (0, 3)
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.data, np.zeros((3, 5)))
    # float32 x and W with a float64 bias promote as x @ W.T + b does.
    x32 = Tensor(rng.standard_normal((2, 5)).astype(np.float32))
    w32 = Tensor(w.data.astype(np.float32))
    b64 = Tensor(np.full(3, 0.5))
    mixed = F.linear(x32, w32, b64)
    assert mixed.dtype == np.float64
    np.testing.assert_allclose(mixed.data, x32.data @ w32.data.T + 0.5, rtol=1e-6)


def test_linear_errors():
    x, w = tg.randn(4, 5), tg.randn(3, 6)
    with pytest.raises(ValueError, match=r"linear: input of shape \(4, 5\).*weight of shape \(3, 6\)"):
        F.linear(x, w)
    with pytest.raises(ValueError, match=r"linear: weight must have shape.*got \(5,\)"):
        F.linear(x, tg.randn(5))
    with pytest.raises(ValueError, match=r"linear: bias has shape \(4,\), expected \(3,\)"):
        F.linear(x, tg.randn(3, 5), tg.randn(4))
    with pytest.raises(TypeError, match="linear: input must be a Tensor"):
        F.linear(np.ones((4, 5)), tg.randn(3, 5))


# ---------------------------------------------------------------------------
# Elementwise activations
# ---------------------------------------------------------------------------


def test_relu_sigmoid_tanh_are_the_tensor_ops():
    x = tg.randn(3, 4)
    np.testing.assert_array_equal(F.relu(x).data, x.relu().data)
    np.testing.assert_array_equal(F.sigmoid(x).data, x.sigmoid().data)
    np.testing.assert_array_equal(F.tanh(x).data, x.tanh().data)


def _away_from_zero(rng, shape, margin=0.05):
    x = rng.uniform(-2, 2, shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-300) * (margin + 0.1), x)


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 2, 2), ()])
@pytest.mark.parametrize("slope", [0.01, 0.2, 1.5])
def test_leaky_relu(rng, shape, slope):
    x = t64(_away_from_zero(rng, shape))
    out = F.leaky_relu(x, slope)
    np.testing.assert_array_equal(out.data, np.where(x.data > 0, x.data, slope * x.data))

    def fn(x):
        return F.leaky_relu(x, negative_slope=slope)

    assert tg.gradcheck(fn, [x])
    assert tg.gradgradcheck(fn, [x])


def test_leaky_relu_gradient_at_zero_is_the_slope_and_default_slope():
    x = Tensor(np.array([-1.0, 0.0, 2.0], dtype=np.float32), requires_grad=True)
    F.leaky_relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.array([0.01, 0.01, 1.0], dtype=np.float32))
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("shape", [(6,), (3, 4), (2, 2, 3)])
@pytest.mark.parametrize("beta", [1.0, 2.5])
def test_softplus(rng, shape, beta):
    x = t64(rng.uniform(-3, 3, shape))
    np.testing.assert_allclose(F.softplus(x, beta).data, np.log1p(np.exp(beta * x.data)) / beta, rtol=1e-12)

    def fn(x):
        return F.softplus(x, beta=beta)

    assert tg.gradcheck(fn, [x])
    assert tg.gradgradcheck(fn, [x])


def test_softplus_is_stable_for_huge_inputs():
    x = Tensor(np.array([-1e4, -50.0, 50.0, 1e4], dtype=np.float32), requires_grad=True)
    out = F.softplus(x)
    assert np.isfinite(out.data).all()
    np.testing.assert_allclose(out.data, [0.0, np.exp(-50.0), 50.0, 1e4], rtol=1e-6, atol=0)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.data, [0.0, np.exp(-50.0), 1.0, 1.0], rtol=1e-6, atol=0)


# ---------------------------------------------------------------------------
# softmax and log_softmax
# ---------------------------------------------------------------------------

SOFTMAX_CASES = [((5,), -1), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), -1), ((4, 1), 1)]


@pytest.mark.parametrize("shape, axis", SOFTMAX_CASES)
def test_softmax_and_log_softmax_values_and_gradients(rng, shape, axis):
    x = t64(rng.standard_normal(shape) * 3)
    reference = log_softmax_np(x.data, axis)
    np.testing.assert_allclose(F.log_softmax(x, axis).data, reference, rtol=1e-12, atol=1e-14)
    p = F.softmax(x, axis=axis)
    np.testing.assert_allclose(p.data, np.exp(reference), rtol=1e-12)
    np.testing.assert_allclose(p.data.sum(axis=axis), 1.0, rtol=1e-12)
    for fn in (F.softmax, F.log_softmax):

        def f(x, fn=fn):
            return fn(x, axis=axis)

        assert tg.gradcheck(f, [x])
        assert tg.gradgradcheck(f, [x])


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_softmax_is_stable_for_huge_logits(scale):
    logits = np.array([[1.0, 0.0, -1.0], [0.0, 0.0, 2.0]], dtype=np.float32) * scale
    x = Tensor(logits, requires_grad=True)
    p = F.softmax(x)
    log_p = F.log_softmax(x)
    assert p.dtype == log_p.dtype == np.float32
    assert np.isfinite(p.data).all() and np.isfinite(log_p.data).all()
    np.testing.assert_allclose(p.data, np.exp(log_softmax_np(logits, -1)), atol=1e-7)
    np.testing.assert_allclose(log_p.data, log_softmax_np(logits, -1), rtol=1e-6)
    upstream = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]], dtype=np.float32)
    (g,) = grads_of((log_p * Tensor(upstream)).sum(), x)
    # d log_softmax: upstream - softmax * sum(upstream), finite everywhere.
    expected = upstream - np.exp(log_softmax_np(logits, -1)) * upstream.sum(axis=1, keepdims=True)
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g, expected, atol=1e-5)


def test_softmax_errors():
    with pytest.raises(ValueError, match="softmax: axis 2 is out of range"):
        F.softmax(tg.randn(3, 4), axis=2)
    with pytest.raises(TypeError, match="log_softmax: input must be a floating-point tensor"):
        F.log_softmax(Tensor(np.arange(4)))


# ---------------------------------------------------------------------------
# cross_entropy and nll_loss
# ---------------------------------------------------------------------------

# (logits shape, target shape)
CLASS_CASES = [((4, 5), (4,)), ((1, 3), (1,)), ((3, 1), (3,)), ((2, 3, 2), (2, 2)), ((2, 4, 2, 3), (2, 2, 3))]


def _ce_reference(logits: np.ndarray, target: np.ndarray, reduction: str, ignore_index: int = -100):
    log_p = log_softmax_np(logits, 1)
    counted = target != ignore_index
    safe = np.where(counted, target, 0)
    picked = np.take_along_axis(log_p, np.expand_dims(safe, 1), axis=1).squeeze(1)
    loss = np.where(counted, -picked, 0.0)
    if reduction == "mean":
        return loss.sum() / counted.sum()
    return reduce_np(loss, reduction)


@pytest.mark.parametrize("shapes", CLASS_CASES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_and_nll_values_and_gradients(rng, shapes, reduction):
    logit_shape, target_shape = shapes
    x = t64(rng.standard_normal(logit_shape) * 2)
    target = rng.integers(0, logit_shape[1], target_shape)
    expected = _ce_reference(x.data, target, reduction)
    ce = F.cross_entropy(x, target, reduction=reduction)
    nll = F.nll_loss(F.log_softmax(x, axis=1), Tensor(target), reduction=reduction)
    np.testing.assert_allclose(ce.data, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(nll.data, expected, rtol=1e-12, atol=1e-14)

    def ce_fn(x):
        return F.cross_entropy(x, target, reduction=reduction)

    def nll_fn(log_p):
        return F.nll_loss(log_p, target, reduction=reduction)

    assert tg.gradcheck(ce_fn, [x])
    assert tg.gradgradcheck(ce_fn, [x])
    log_p = t64(log_softmax_np(x.data, 1))
    assert tg.gradcheck(nll_fn, [log_p])
    assert tg.gradgradcheck(nll_fn, [log_p])


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n(rng):
    x = t64(rng.standard_normal((6, 4)))
    target = np.array([0, 3, 1, 1, 2, 0])
    (g,) = grads_of(F.cross_entropy(x, target), x)
    onehot = np.eye(4)[target]
    np.testing.assert_allclose(g, (np.exp(log_softmax_np(x.data, 1)) - onehot) / 6, rtol=1e-12, atol=1e-15)


def test_class_targets_may_be_any_integer_dtype(rng):
    """Labels read from IDX files are uint8; Tensors and lists work too."""
    x = t64(rng.standard_normal((4, 10)))
    target = np.array([0, 9, 3, 2])
    expected = F.cross_entropy(x, target).data
    for same in (target.astype(np.uint8), target.astype(np.int32), Tensor(target), target.tolist()):
        np.testing.assert_array_equal(F.cross_entropy(x, same).data, expected)
        np.testing.assert_array_equal(F.nll_loss(x, same).data, F.nll_loss(x, target).data)
    with pytest.raises(ValueError, match="target value 255 is out of range for C=10"):
        F.cross_entropy(x, np.array([0, 1, 2, 255], dtype=np.uint8))


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_cross_entropy_is_stable_for_huge_logits(scale):
    logits = np.array([[1.0, 0.0, -1.0], [0.0, 0.5, 1.0], [0.0, 0.0, 0.0]], dtype=np.float32) * scale
    target = np.array([0, 0, 2])
    x = Tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, target)
    assert loss.dtype == np.float32 and np.isfinite(loss.data)
    np.testing.assert_allclose(loss.data, _ce_reference(logits, target, "mean"), rtol=1e-6)
    loss.backward()
    softmax = np.exp(log_softmax_np(logits, 1))
    expected = (softmax - np.eye(3)[target]) / 3
    assert x.grad.dtype == np.float32 and np.isfinite(x.grad.data).all()
    np.testing.assert_allclose(x.grad.data, expected, atol=1e-7)
    # Composing log_softmax and nll_loss is just as stable.
    x.grad = None
    F.nll_loss(F.log_softmax(x, axis=1), target).backward()
    np.testing.assert_allclose(x.grad.data, expected, atol=1e-7)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore_index", [-100, 1])
def test_cross_entropy_ignore_index(rng, reduction, ignore_index):
    x = t64(rng.standard_normal((5, 3)))
    target = np.array([0, ignore_index, 2, 1, ignore_index])
    expected = _ce_reference(x.data, target, reduction, ignore_index)
    for fn, inp in ((F.cross_entropy, x), (F.nll_loss, t64(log_softmax_np(x.data, 1)))):
        out = fn(inp, target, ignore_index=ignore_index, reduction=reduction)
        np.testing.assert_allclose(out.data, expected, rtol=1e-12)

        def f(inp, fn=fn):
            return fn(inp, target, ignore_index=ignore_index, reduction=reduction)

        assert tg.gradcheck(f, [inp])
        (g,) = grads_of(f(inp).sum(), inp)
        ignored = target == ignore_index
        assert np.all(g[ignored] == 0) and np.all(np.abs(g[~ignored]).sum(axis=1) > 0)
    assert tg.gradgradcheck(lambda x: F.cross_entropy(x, target, ignore_index=ignore_index), [x])


def test_cross_entropy_gradient_fails_gradcheck_when_broken(rng, monkeypatch):
    """A negative control: a wrong VJP (missing the 1/N of the mean) is caught."""
    x = t64(rng.standard_normal((3, 4)))
    target = np.array([1, 0, 3])
    original = F.CrossEntropy.backward

    def doubled(self, g):
        gx, gt = original(self, g)
        return gx * 2.0, gt

    monkeypatch.setattr(F.CrossEntropy, "backward", doubled)
    assert not tg.gradcheck(lambda x: F.cross_entropy(x, target), [x], raise_exception=False)


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll_loss"])
def test_class_target_errors(fn):
    name = fn.__name__
    x = tg.randn(4, 3)
    # cross_entropy takes float targets as class probabilities, of the input's shape.
    message = (r"cross_entropy: float targets are class probabilities and must have the input's shape"
               if name == "cross_entropy" else f"{name}: target must hold integer class indices, got dtype float32")
    with pytest.raises(ValueError, match=message):
        fn(x, Tensor(np.array([0.0, 1.0, 2.0, 1.0], dtype=np.float32)))
    with pytest.raises(ValueError, match=f"{name}: target value 3 is out of range for C=3 classes"):
        fn(x, np.array([0, 3, 1, 2]))
    with pytest.raises(ValueError, match=f"{name}: target value -1 is out of range for C=3"):
        fn(x, np.array([0, -1, 1, 2]))
    with pytest.raises(ValueError, match=rf"{name}: target shape \(3,\) does not match input shape \(4, 3\)"):
        fn(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=rf"{name}: input must have shape \(N, C\).*got \(3,\)"):
        fn(tg.randn(3), np.array(1))
    with pytest.raises(ValueError, match=f"{name}: reduction must be one of 'mean', 'sum', 'none', got 'avg'"):
        fn(x, np.array([0, 1, 2, 1]), reduction="avg")


# ---------------------------------------------------------------------------
# binary_cross_entropy (on probabilities)
# ---------------------------------------------------------------------------

BINARY_SHAPES = [(5,), (3, 4), (2, 3, 2), (1,)]


@pytest.mark.parametrize("shape", BINARY_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_values_and_gradients(rng, shape, reduction):
    p = t64(rng.uniform(0.05, 0.95, shape))
    y = t64(rng.uniform(0, 1, shape))
    expected = reduce_np(-(y.data * np.log(p.data) + (1 - y.data) * np.log(1 - p.data)), reduction)
    np.testing.assert_allclose(F.binary_cross_entropy(p, y, reduction=reduction).data, expected, rtol=1e-12)

    def fn(p, y):
        return F.binary_cross_entropy(p, y, reduction=reduction)

    assert tg.gradcheck(fn, [p, y])
    assert tg.gradgradcheck(fn, [p, y])


def test_binary_cross_entropy_weight(rng):
    p = t64(rng.uniform(0.1, 0.9, (3, 4)))
    y = rng.integers(0, 2, (3, 4)).astype(np.float64)
    w = t64(rng.uniform(0.5, 2, (4,)))
    expected = -(w.data * (y * np.log(p.data) + (1 - y) * np.log(1 - p.data))).mean()
    np.testing.assert_allclose(F.binary_cross_entropy(p, y, w).data, expected, rtol=1e-12)
    assert tg.gradcheck(lambda p, w: F.binary_cross_entropy(p, y, w), [p, w])


def test_binary_cross_entropy_at_exact_zero_and_one():
    p = Tensor(np.array([0.0, 0.0, 1.0, 1.0], dtype=np.float32), requires_grad=True)
    y = np.array([0.0, 1.0, 0.0, 1.0], dtype=np.float32)
    loss = F.binary_cross_entropy(p, y, reduction="none")
    # A right answer costs 0; a confidently wrong one costs the clamp, 100.
    np.testing.assert_array_equal(loss.data, [0.0, 100.0, 100.0, 0.0])
    loss.sum().backward()
    # PyTorch's rule: (p - y) / max(p (1 - p), 1e-12).
    expected = (p.data - y) / np.maximum(p.data * (1 - p.data), np.float32(1e-12))
    assert np.isfinite(p.grad.data).all()
    np.testing.assert_array_equal(p.grad.data, expected)
    assert p.grad.data[1] < -1e11 and p.grad.data[2] > 1e11


def test_binary_cross_entropy_errors():
    p = tg.rand(2, 3)
    with pytest.raises(ValueError, match=r"binary_cross_entropy: target shape \(3,\) does not match input shape"):
        F.binary_cross_entropy(p, tg.rand(3))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input must hold probabilities in \[0, 1\]"):
        F.binary_cross_entropy(Tensor(np.array([0.5, 1.5], dtype=np.float32)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"weight of shape \(4,\) cannot be broadcast"):
        F.binary_cross_entropy(p, tg.rand(2, 3), tg.rand(4))
    with pytest.raises(ValueError, match="binary_cross_entropy: reduction must be one of"):
        F.binary_cross_entropy(p, tg.rand(2, 3), reduction="mean ")


# ---------------------------------------------------------------------------
# binary_cross_entropy_with_logits
# ---------------------------------------------------------------------------


def _bce_logits_reference(x, y, pos_weight=None):
    """The textbook formula -[w y log s + (1 - y) log(1 - s)], fine for moderate x."""
    s = 1 / (1 + np.exp(-x))
    w = 1.0 if pos_weight is None else pos_weight
    return -(w * y * np.log(s) + (1 - y) * np.log(1 - s))


@pytest.mark.parametrize("shape", BINARY_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("with_pos_weight", [False, True])
def test_bce_with_logits_values_and_gradients(rng, shape, reduction, with_pos_weight):
    x = t64(rng.uniform(-4, 4, shape))
    y = t64(rng.uniform(0, 1, shape))
    pw = t64(rng.uniform(0.5, 3, shape[-1:])) if with_pos_weight else None
    expected = reduce_np(_bce_logits_reference(x.data, y.data, None if pw is None else pw.data), reduction)
    out = F.binary_cross_entropy_with_logits(x, y, reduction=reduction, pos_weight=pw)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    inputs = [x, y, pw] if with_pos_weight else [x, y]

    def fn(x, y, pw=None):
        return F.binary_cross_entropy_with_logits(x, y, reduction=reduction, pos_weight=pw)

    assert tg.gradcheck(fn, inputs)
    assert tg.gradgradcheck(fn, inputs)


def test_bce_with_logits_weight(rng):
    x, y, w = t64(rng.standard_normal((3, 2))), rng.uniform(0, 1, (3, 2)), t64(rng.uniform(0, 2, (3, 1)))
    expected = (w.data * _bce_logits_reference(x.data, y)).sum()
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(x, y, w, reduction="sum").data, expected)
    assert tg.gradcheck(lambda x, w: F.binary_cross_entropy_with_logits(x, y, w), [x, w])


def test_bce_with_logits_is_stable_and_exact_at_zero():
    x = Tensor(np.array([-1e4, -1e4, 1e4, 1e4, 0.0, 0.0], dtype=np.float32), requires_grad=True)
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.0, 1.0], dtype=np.float32)
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(loss.data, [0.0, 1e4, 1e4, 0.0, np.log(2), np.log(2)], rtol=1e-6)
    loss.sum().backward()
    # The gradient is sigmoid(x) - y, including at x = 0 where |x| has a kink.
    np.testing.assert_array_equal(x.grad.data, np.array([0.0, -1.0, 1.0, 0.0, 0.5, -0.5], dtype=np.float32))


# ---------------------------------------------------------------------------
# mse_loss
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 1, 3), ()])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss(rng, shape, reduction):
    a, b = t64(rng.standard_normal(shape)), t64(rng.standard_normal(shape))
    np.testing.assert_allclose(F.mse_loss(a, b, reduction=reduction).data,
                               reduce_np((a.data - b.data) ** 2, reduction), rtol=1e-12)

    def fn(a, b):
        return F.mse_loss(a, b, reduction=reduction)

    assert tg.gradcheck(fn, [a, b])
    assert tg.gradgradcheck(fn, [a, b])


def test_mse_loss_errors():
    with pytest.raises(ValueError, match=r"mse_loss: target shape \(3, 1\) does not match input shape \(3,\)"):
        F.mse_loss(tg.randn(3), tg.randn(3, 1))
    with pytest.raises(ValueError, match="mse_loss: reduction must be one of"):
        F.mse_loss(tg.randn(3), tg.randn(3), reduction="batchmean")


def test_losses_keep_float32(rng):
    x = Tensor(rng.standard_normal((8, 3)).astype(np.float32), requires_grad=True)
    y = rng.uniform(0, 1, (8, 3)).astype(np.float32)
    target = rng.integers(0, 3, 8)
    losses = [
        F.cross_entropy(x, target), F.nll_loss(F.log_softmax(x, 1), target), F.mse_loss(x, y),
        F.binary_cross_entropy(F.sigmoid(x), y), F.binary_cross_entropy_with_logits(x, y),
        F.leaky_relu(x).sum(), F.softplus(x).sum(), F.softmax(x).sum(), F.dropout(x).sum(),
        F.batch_norm(x, tg.zeros(3), tg.ones(3), training=True).sum(),
        F.batch_norm(x, tg.zeros(3), tg.ones(3), training=False).sum(),
    ]
    for loss in losses:
        assert loss.dtype == np.float32
        (g,) = tg.grad(loss, x)
        assert g.dtype == np.float32


# ---------------------------------------------------------------------------
# dropout
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics(p):
    x = tg.ones(500, 400)
    out = F.dropout(x, p)
    dropped = np.mean(out.data == 0)
    # 200,000 draws: the dropped fraction's standard deviation is under 0.0012.
    assert abs(dropped - p) < 0.006
    kept = out.data[out.data != 0]
    np.testing.assert_allclose(kept, 1 / (1 - p), rtol=1e-6)
    # Inverted dropout preserves the mean. Each element has variance p / (1 - p):
    # allow five standard deviations of the mean of 200,000 of them.
    assert abs(out.data.mean() - 1) < 5 * np.sqrt(p / (1 - p) / x.numel())


def test_dropout_gradient_is_the_mask(rng):
    x = Tensor(rng.standard_normal((40, 30)), requires_grad=True)
    out = F.dropout(x, 0.4)
    out.backward(np.ones(x.shape))
    mask = np.where(out.data != 0, 1 / 0.6, 0.0)
    np.testing.assert_allclose(x.grad.data, mask, rtol=1e-12)

    def fn(x):
        tg.manual_seed(7)  # the same mask every call
        return F.dropout(x, 0.3)

    small = t64(rng.standard_normal((4, 5)))
    assert tg.gradcheck(fn, [small])
    assert tg.gradgradcheck(fn, [small])


def test_dropout_reproducible_by_seed():
    x = tg.ones(20, 20)
    tg.manual_seed(3)
    a = F.dropout(x, 0.5).data
    b = F.dropout(x, 0.5).data
    tg.manual_seed(3)
    c = F.dropout(x, 0.5).data
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)


def test_dropout_identity_in_eval_and_for_p_zero():
    x = tg.randn(5, 6, requires_grad=True)
    for out in (F.dropout(x, 0.5, training=False), F.dropout(x, 0.0)):
        np.testing.assert_array_equal(out.data, x.data)


@pytest.mark.parametrize("p", [-0.1, 1, 1.0, 1.5, np.float32(1.0)])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match=r"dropout: p .* must be in \[0, 1\)"):
        F.dropout(tg.randn(3), p)


@pytest.mark.parametrize("p", ["0.5", None, True])
def test_dropout_rejects_p_that_is_not_a_number(p):
    with pytest.raises(TypeError, match=r"dropout: p must be a number"):
        F.dropout(tg.randn(3), p)


# ---------------------------------------------------------------------------
# batch_norm
# ---------------------------------------------------------------------------

BN_SHAPES = [(4, 3), (2, 3), (3, 2, 2, 3), (2, 1, 2, 2), (5, 2, 1, 1)]


def _bn_reference(x, mean, var, eps, weight, bias):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    out = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training(rng, shape, affine):
    x = t64(rng.standard_normal(shape) * 3 + 1)
    channels = shape[1]
    w = t64(rng.uniform(0.5, 2, channels)) if affine else None
    b = t64(rng.standard_normal(channels)) if affine else None
    running_mean = Tensor(rng.standard_normal(channels))
    running_var = Tensor(rng.uniform(0.5, 2, channels))
    old_mean, old_var = running_mean.data.copy(), running_var.data.copy()
    axes = (0,) + tuple(range(2, len(shape)))
    n = x.numel() // channels
    out = F.batch_norm(x, running_mean, running_var, w, b, training=True, momentum=0.3, eps=1e-3)
    mean, var = x.data.mean(axis=axes), x.data.var(axis=axes)
    expected = _bn_reference(x.data, mean, var, 1e-3, None if w is None else w.data, None if b is None else b.data)
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)
    # The running statistics follow PyTorch's rule, with the unbiased variance.
    np.testing.assert_allclose(running_mean.data, 0.7 * old_mean + 0.3 * mean, rtol=1e-12)
    np.testing.assert_allclose(running_var.data, 0.7 * old_var + 0.3 * var * n / (n - 1), rtol=1e-12)

    inputs = [x, w, b] if affine else [x]

    def fn(x, w=None, b=None):
        return F.batch_norm(x, None, None, w, b, training=True)

    assert tg.gradcheck(fn, inputs)
    assert tg.gradgradcheck(fn, inputs)


@pytest.mark.parametrize("shape", BN_SHAPES + [(1, 3)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_eval(rng, shape, affine):
    x = t64(rng.standard_normal(shape))
    channels = shape[1]
    w = t64(rng.uniform(0.5, 2, channels)) if affine else None
    b = t64(rng.standard_normal(channels)) if affine else None
    running_mean = Tensor(rng.standard_normal(channels))
    running_var = Tensor(rng.uniform(0.5, 2, channels))
    before = running_mean.data.copy(), running_var.data.copy()
    out = F.batch_norm(x, running_mean, running_var, w, b)
    expected = _bn_reference(x.data, running_mean.data, running_var.data, 1e-5,
                             None if w is None else w.data, None if b is None else b.data)
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(running_mean.data, before[0])
    np.testing.assert_array_equal(running_var.data, before[1])
    inputs = [x, w, b] if affine else [x]

    def fn(x, w=None, b=None):
        return F.batch_norm(x, running_mean, running_var, w, b, training=False)

    assert tg.gradcheck(fn, inputs)
    assert tg.gradgradcheck(fn, inputs)


def test_batch_norm_running_stats_over_several_steps_float32(rng):
    running_mean, running_var = tg.zeros(4), tg.ones(4)
    expected_mean, expected_var = np.zeros(4), np.ones(4)
    for _ in range(5):
        x = rng.standard_normal((8, 4, 3, 3)).astype(np.float32) * 2 + 3
        F.batch_norm(Tensor(x), running_mean, running_var, training=True)
        expected_mean = 0.9 * expected_mean + 0.1 * x.mean(axis=(0, 2, 3), dtype=np.float64)
        expected_var = 0.9 * expected_var + 0.1 * x.var(axis=(0, 2, 3), ddof=1, dtype=np.float64)
    assert running_mean.dtype == running_var.dtype == np.float32
    np.testing.assert_allclose(running_mean.data, expected_mean, rtol=1e-5)
    np.testing.assert_allclose(running_var.data, expected_var, rtol=1e-5)


def test_batch_norm_training_gradient_formula(rng):
    """The closed form dx = (1/n) gamma inv_std (n dy - sum dy - xhat sum(dy xhat))."""
    x = t64(rng.standard_normal((6, 2, 2, 2)))
    w = t64(np.array([0.5, 2.0]))
    dy = rng.standard_normal(x.shape)
    out = F.batch_norm(x, None, None, w, None, training=True)
    (g,) = grads_of((out * Tensor(dy)).sum(), x)
    axes, n = (0, 2, 3), 24
    mean, var = x.data.mean(axis=axes, keepdims=True), x.data.var(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(var + 1e-5)
    xhat = (x.data - mean) * inv_std
    gamma = w.data.reshape(1, 2, 1, 1)
    expected = gamma * inv_std / n * (n * dy - dy.sum(axis=axes, keepdims=True)
                                      - xhat * (dy * xhat).sum(axis=axes, keepdims=True))
    np.testing.assert_allclose(g, expected, rtol=1e-10, atol=1e-13)


def test_batch_norm_errors():
    x = tg.randn(4, 3, 2, 2)
    with pytest.raises(ValueError, match="batch_norm: running_mean and running_var must be given when training=False"):
        F.batch_norm(x, None, None)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean has shape \(4,\), but input of shape "
                                         r"\(4, 3, 2, 2\) has C=3 channels"):
        F.batch_norm(x, tg.zeros(4), tg.ones(4))
    with pytest.raises(ValueError, match=r"batch_norm: weight has shape \(2,\)"):
        F.batch_norm(x, None, None, tg.ones(2), training=True)
    for shape in [(1, 3), (1, 3, 1, 1)]:
        with pytest.raises(ValueError, match="batch_norm: Expected more than 1 value per channel when training"):
            F.batch_norm(tg.randn(*shape), None, None, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: input must have shape \(N, C\) or \(N, C, H, W\), got \(3,\)"):
        F.batch_norm(tg.randn(3), None, None, training=True)


def test_batch_norm_worked_example_from_the_docs():
    """One channel holding 1, 2, 3, 4: mean 2.5, biased variance 1.25, unbiased 5/3."""
    x = Tensor(np.array([[1.0], [2.0], [3.0], [4.0]]))
    running_mean, running_var = Tensor(np.zeros(1)), Tensor(np.ones(1))
    out = F.batch_norm(x, running_mean, running_var, training=True, eps=0.0)
    np.testing.assert_allclose(out.data[:, 0], (np.array([1, 2, 3, 4]) - 2.5) / np.sqrt(1.25), rtol=1e-12)
    np.testing.assert_allclose(running_mean.data, [0.25], rtol=1e-12)
    np.testing.assert_allclose(running_var.data, [0.9 + 0.1 * 5 / 3], rtol=1e-12)


def test_conv_and_pool_ops_are_reexported():
    from tinygrad_cnn import conv

    for name in ("conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d"):
        assert getattr(F, name) is getattr(conv, name)
        assert name in F.__all__


# ---------------------------------------------------------------------------
# Against PyTorch (skipped when it is not installed)
# ---------------------------------------------------------------------------


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _pair(torch, array):
    """The same float64 data as a tinygrad_cnn tensor and a torch tensor, both requiring grad."""
    return t64(array), torch.tensor(array, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_and_nll_match_torch(torch, rng, reduction):
    TF = torch.nn.functional
    for logit_shape, target_shape in CLASS_CASES:
        logits = rng.standard_normal(logit_shape) * 3
        target = rng.integers(0, logit_shape[1], target_shape)
        if target.size > 2:
            target.flat[1] = -100  # ignored
        x, xt = _pair(torch, logits)
        tt = torch.tensor(target)
        ours = F.cross_entropy(x, target, reduction=reduction)
        theirs = TF.cross_entropy(xt, tt, reduction=reduction)
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
        upstream = rng.standard_normal(theirs.shape)
        (g,) = tg.grad(ours, x, Tensor(upstream))
        (gt,) = torch.autograd.grad(theirs, xt, torch.tensor(upstream))
        np.testing.assert_allclose(g.data, gt.numpy(), rtol=1e-10, atol=1e-14)
        ours = F.nll_loss(x, target, reduction=reduction)
        theirs = TF.nll_loss(xt, tt, reduction=reduction)
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_softmax_family_matches_torch(torch, rng):
    TF = torch.nn.functional
    for shape, axis in SOFTMAX_CASES:
        x, xt = _pair(torch, rng.standard_normal(shape) * 5)
        for ours_fn, theirs_fn in ((F.softmax, TF.softmax), (F.log_softmax, TF.log_softmax)):
            ours, theirs = ours_fn(x, axis=axis), theirs_fn(xt, dim=axis)
            np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-15)
            upstream = rng.standard_normal(shape)
            (g,) = tg.grad(ours, x, Tensor(upstream))
            (gt,) = torch.autograd.grad(theirs, xt, torch.tensor(upstream))
            np.testing.assert_allclose(g.data, gt.numpy(), rtol=1e-10, atol=1e-14)
    x, xt = _pair(torch, rng.standard_normal((4, 6)) * 3)
    pairs = [
        (F.leaky_relu(x, 0.1), TF.leaky_relu(xt, 0.1)),
        (F.softplus(x), TF.softplus(xt)),
        (F.softplus(x, 2.0), TF.softplus(xt, beta=2.0)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-6)
        (g,) = tg.grad(ours.sum(), x)
        (gt,) = torch.autograd.grad(theirs.sum(), xt)
        np.testing.assert_allclose(g.data, gt.numpy(), rtol=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_losses_and_mse_match_torch(torch, rng, reduction):
    TF = torch.nn.functional
    probs = rng.uniform(0, 1, (4, 3))
    probs[0, :] = [0.0, 1.0, 0.5]  # the clamped ends
    target = rng.uniform(0, 1, (4, 3))
    target[0, :] = [1.0, 0.0, 1.0]
    weight = rng.uniform(0.5, 2, (3,))
    pos_weight = rng.uniform(0.5, 3, (3,))
    p, pt = _pair(torch, probs)
    y, yt = _pair(torch, target)
    x, xt = _pair(torch, rng.standard_normal((4, 3)) * 4)
    pw, pwt = Tensor(pos_weight), torch.tensor(pos_weight)  # torch gives pos_weight no gradient
    cases = [
        (F.binary_cross_entropy(p, y, Tensor(weight), reduction=reduction),
         TF.binary_cross_entropy(pt, yt, torch.tensor(weight), reduction=reduction), [p, y], [pt, yt]),
        (F.binary_cross_entropy_with_logits(x, y, reduction=reduction, pos_weight=pw),
         TF.binary_cross_entropy_with_logits(xt, yt, reduction=reduction, pos_weight=pwt),
         [x, y], [xt, yt]),
        (F.mse_loss(x, y, reduction=reduction), TF.mse_loss(xt, yt, reduction=reduction), [x, y], [xt, yt]),
    ]
    for ours, theirs, ours_inputs, their_inputs in cases:
        np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10)
        upstream = rng.standard_normal(theirs.shape)
        grads = tg.grad(ours, ours_inputs, Tensor(upstream))
        their_grads = torch.autograd.grad(theirs, their_inputs, torch.tensor(upstream))
        for g, gt in zip(grads, their_grads, strict=True):
            assert np.isfinite(g.data).all()
            # torch's gradient for the BCE *target* at p = 0 or 1 is +-inf (its logs
            # are not clamped there); ours uses the clamped logs of the forward pass.
            finite = np.isfinite(gt.numpy())
            np.testing.assert_allclose(g.data[finite], gt.numpy()[finite], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5, 5)])
def test_batch_norm_matches_torch(torch, rng, shape):
    TF = torch.nn.functional
    channels = shape[1]
    x, xt = _pair(torch, rng.standard_normal(shape) * 2 + 1)
    w, wt = _pair(torch, rng.uniform(0.5, 2, channels))
    b, bt = _pair(torch, rng.standard_normal(channels))
    rm, rv = Tensor(np.zeros(channels)), Tensor(np.ones(channels))
    rmt, rvt = torch.zeros(channels, dtype=torch.float64), torch.ones(channels, dtype=torch.float64)
    for step in range(3):
        for training in (True, False):
            ours = F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.2)
            theirs = TF.batch_norm(xt, rmt, rvt, wt, bt, training=training, momentum=0.2)
            np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(rm.data, rmt.numpy(), rtol=1e-12)
            np.testing.assert_allclose(rv.data, rvt.numpy(), rtol=1e-12)
            upstream = rng.standard_normal(shape)
            grads = tg.grad(ours, [x, w, b], Tensor(upstream))
            their_grads = torch.autograd.grad(theirs, [xt, wt, bt], torch.tensor(upstream))
            for g, gt in zip(grads, their_grads, strict=True):
                np.testing.assert_allclose(g.data, gt.numpy(), rtol=1e-9, atol=1e-11)
        x.data = x.data + step  # a different batch next time
        xt = torch.tensor(x.data, requires_grad=True)


def test_float32_cross_entropy_and_batch_norm_match_torch(torch, rng):
    """The float32 fast paths, at training sizes, against torch in float32."""
    TF = torch.nn.functional
    logits = rng.standard_normal((128, 10)).astype(np.float32) * 5
    target = rng.integers(0, 10, 128)
    x, xt = Tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
    F.cross_entropy(x, target).backward()
    TF.cross_entropy(xt, torch.tensor(target)).backward()
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), atol=1e-7)
    images = rng.standard_normal((16, 8, 12, 12)).astype(np.float32) + 2
    x, xt = Tensor(images, requires_grad=True), torch.tensor(images, requires_grad=True)
    rm, rv = tg.zeros(8), tg.ones(8)
    rmt, rvt = torch.zeros(8), torch.ones(8)
    out = F.batch_norm(x, rm, rv, training=True)
    out_t = TF.batch_norm(xt, rmt, rvt, training=True)
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), atol=2e-5)
    np.testing.assert_allclose(rv.data, rvt.numpy(), rtol=1e-5)
    upstream = rng.standard_normal(images.shape).astype(np.float32)
    out.backward(upstream)
    out_t.backward(torch.tensor(upstream))
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), atol=1e-5)
