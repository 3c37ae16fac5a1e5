"""Bad, extreme and misused inputs: each gives PyTorch's result or a clear error
that names the op and the argument, never a silent wrong answer, a bare numpy
message or a numpy RuntimeWarning.

Sections: integer and bool inputs to float ops; argument types; messages that
name the op the user called; the Tensor constructor; empty tensors; overflow
and invalid values without warnings; cross-entropy with class probabilities.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import functional as F
from tinygrad_cnn import nn, optim
from tinygrad_cnn.tensor import Tensor


def f32(array) -> Tensor:
    return Tensor(np.asarray(array, dtype=np.float32))


def t64(array, requires_grad: bool = True) -> Tensor:
    return Tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


# ---------------------------------------------------------------------------
# Integer and bool inputs to float ops
# ---------------------------------------------------------------------------

INTS = np.array([1, -1, 3], dtype=np.int64)
BOOLS = np.array([True, False, True])


@pytest.mark.parametrize("values", [INTS, BOOLS, INTS.astype(np.uint8), INTS.astype(np.int32)],
                         ids=["int64", "bool", "uint8", "int32"])
@pytest.mark.parametrize("name, reference", [
    ("sigmoid", lambda v: 1 / (1 + np.exp(-v))),
    ("tanh", np.tanh),
    ("exp", np.exp),
    ("log", np.log),
    ("sqrt", np.sqrt),
])
def test_float_ops_promote_integer_and_bool_inputs_to_float32(values, name, reference):
    # As in PyTorch: computed in float32, not in the integer dtype (sigmoid of
    # the ints [1, -1, 3] used to be [0, 0, 0]).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = getattr(tg, name)(Tensor(values))
        with np.errstate(all="ignore"):
            expected = reference(values.astype(np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, expected, rtol=1e-6)


def test_tensor_methods_promote_too():
    assert Tensor(INTS).sigmoid().dtype == np.float32
    np.testing.assert_allclose(Tensor(INTS).exp().data, np.exp(INTS), rtol=1e-6)


@pytest.mark.parametrize("a, b, expected", [
    (Tensor(np.array([7, 2])), Tensor(np.array([2, 4])), [3.5, 0.5]),
    (Tensor(np.array([7, 2])), 2, [3.5, 1.0]),
    (7, Tensor(np.array([2, 4])), [3.5, 1.75]),
    (Tensor(np.array([True, False])), Tensor(np.array([True, True])), [1.0, 0.0]),
])
def test_integer_division_is_true_division_in_float32(a, b, expected):
    out = a / b
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, expected)


def test_integer_and_float_operands_take_the_float_dtype():
    # numpy makes int64 with float32 a float64; PyTorch keeps float32.
    x = Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    n = Tensor(np.array([2, 4]))
    for out in (x / n, n / x, x**n, x + n, n - x, x * n, tg.maximum(n, x), tg.minimum(x, n), n * 2.5, 2.5 + n):
        assert out.dtype == np.float32
    (x / n + x * n).sum().backward()
    np.testing.assert_allclose(x.grad.data, [2.5, 4.25])
    assert (Tensor(np.ones(2)) + x).dtype == np.float64  # two floats: numpy's (and PyTorch's) rule
    assert (n + 1).dtype == np.int64 and (n * n).dtype == np.int64


def test_pow_of_integers_with_a_float_exponent_is_float32_and_with_an_int_exponent_stays_int():
    out = Tensor(np.array([4, 9])) ** 0.5
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, [2.0, 3.0])
    assert (Tensor(np.array([4, 9])) ** 2).dtype == np.int64


@pytest.mark.parametrize("call, op", [
    (lambda x: x.mean(), "mean"),
    (lambda x: x.var(), "var"),
    (lambda x: F.softmax(x, axis=0), "softmax"),
    (lambda x: F.log_softmax(x, axis=0), "log_softmax"),
])
@pytest.mark.parametrize("values", [INTS, BOOLS], ids=["int64", "bool"])
def test_float_ops_that_pytorch_refuses_for_integers_raise_a_type_error(call, op, values):
    with pytest.raises(TypeError, match=rf"{op}: input must be a floating-point tensor, got dtype"):
        call(Tensor(values))


def _images(dtype) -> Tensor:
    return Tensor(np.full((1, 1, 3, 3), 200, dtype=dtype))


@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.bool_])
def test_convolution_of_integer_tensors_raises_instead_of_wrapping_around(dtype):
    # A uint8 conv2d used to wrap around modulo 256.
    weight = np.ones((1, 1, 2, 2), dtype=np.float32)
    with pytest.raises(TypeError, match=r"conv2d: input must be a floating-point tensor, got dtype"):
        F.conv2d(_images(dtype), Tensor(weight))
    with pytest.raises(TypeError, match=r"conv2d: weight must be a floating-point tensor"):
        F.conv2d(Tensor(np.ones((1, 1, 3, 3), np.float32)), Tensor(weight.astype(dtype)))
    with pytest.raises(TypeError, match=r"conv2d: bias must be a floating-point tensor"):
        F.conv2d(Tensor(np.ones((1, 1, 3, 3), np.float32)), Tensor(weight), Tensor(np.ones(1, dtype=dtype)))
    with pytest.raises(TypeError, match=r"conv_transpose2d: input must be a floating-point tensor"):
        F.conv_transpose2d(_images(dtype), Tensor(weight))
    with pytest.raises(TypeError, match=r"avg_pool2d: input must be a floating-point tensor"):
        F.avg_pool2d(_images(dtype), 2)


def test_max_pooling_of_integers_is_exact_as_in_pytorch():
    x = Tensor(np.arange(16, dtype=np.uint8).reshape(1, 1, 4, 4) * 16)
    out = F.max_pool2d(x, 2)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out.data.reshape(-1), [80, 112, 208, 240])


# ---------------------------------------------------------------------------
# Argument types
# ---------------------------------------------------------------------------

X = np.arange(6, dtype=np.float32)


@pytest.mark.parametrize("thunk, pattern", [
    (lambda: f32(X).reshape(3.7, 2), r"reshape: shape must be an int, got float 3.7"),
    (lambda: f32(X).reshape("a"), r"reshape: shape must be an int, got str 'a'"),
    (lambda: f32(X).reshape((True, 6)), r"reshape: shape must be an int, got bool"),
    (lambda: f32(X).reshape(2, 3).sum(axis=1.0), r"sum: axis must be an int, got float 1.0"),
    (lambda: f32(X).reshape(2, 3).sum(axis="0"), r"sum: axis must be an int, got str"),
    (lambda: f32(X).reshape(2, 3).max(axis=(0, 1.0)), r"max: axis must be an int, got float"),
    (lambda: f32(X).reshape(2, 3).mean(axis=1.5), r"mean: axis must be an int"),
    (lambda: f32(X).unsqueeze(1.0), r"unsqueeze: axis must be an int, got float 1.0"),
    (lambda: f32(X).reshape(2, 3).transpose(1.0, 0), r"transpose: axes must be an int"),
    (lambda: f32(X).broadcast_to(2, 6.0), r"broadcast_to: shape must be an int"),
    (lambda: f32(X).var(ddof=0.5), r"var: ddof must be an int"),
    (lambda: tg.stack([f32(X), f32(X)], axis=0.0), r"stack: axis must be an int"),
    (lambda: tg.where("abc", f32(X), f32(X)), r"where: condition must be a boolean Tensor or array, got str"),
    (lambda: tg.where(None, f32(X), f32(X)), r"where: condition must be a boolean Tensor or array, got NoneType"),
    (lambda: F.dropout(f32(X), "0.5"), r"dropout: p must be a number, got str"),
    (lambda: F.dropout(f32(X), True), r"dropout: p must be a number, got bool"),
    (lambda: F.leaky_relu(f32(X), "0.1"), r"leaky_relu: negative_slope must be a number"),
    (lambda: F.softplus(f32(X), beta="2"), r"softplus: beta must be a number"),
])
def test_arguments_of_the_wrong_type_raise_a_type_error_naming_op_and_argument(thunk, pattern):
    with pytest.raises(TypeError, match=pattern):
        thunk()


def test_numpy_integers_are_accepted_wherever_ints_are():
    x = f32(X)
    assert x.reshape(np.int64(3), np.int32(2)).shape == (3, 2)
    assert x.reshape(2, 3).sum(axis=np.int64(1)).shape == (2,)
    assert x.unsqueeze(np.int64(0)).shape == (1, 6)
    assert tg.stack([x, x], axis=np.int64(1)).shape == (6, 2)


@pytest.mark.parametrize("p", [np.float32(0.5), np.float64(0.5), np.float16(0.5), 0.5])
def test_numpy_float_dropout_probabilities_are_accepted(p):
    tg.manual_seed(0)
    out = F.dropout(Tensor(np.ones(1000, np.float32)), p)
    kept = out.data != 0
    assert 400 < kept.sum() < 600
    np.testing.assert_allclose(out.data[kept], 2.0)


def test_where_accepts_masks_of_every_usual_kind():
    a, b = f32([1, 2, 3]), f32([-1, -2, -3])
    for condition in ([True, False, True], np.array([1, 0, 1]), Tensor(np.array([True, False, True])), f32(X[:3]) != 1):
        assert tg.where(condition, a, b).shape == (3,)
    np.testing.assert_array_equal(tg.where(True, a, b).data, a.data)


@pytest.mark.parametrize("gradient", ["abc", object(), {"a": 1}, True])
def test_backward_with_a_gradient_that_is_not_numeric_raises_a_type_error(gradient):
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(TypeError, match=r"backward: gradient must be a Tensor, an array or a number"):
        (x * 2).backward(gradient)


def _param() -> Tensor:
    return Tensor(np.zeros(3, np.float32), requires_grad=True)


@pytest.mark.parametrize("make, error, pattern", [
    (lambda: optim.SGD([_param()], lr="0.1"), TypeError, r"SGD: lr must be a number, got str '0.1'"),
    (lambda: optim.SGD([_param()], lr=None), TypeError, r"SGD: lr must be a number, got NoneType"),
    (lambda: optim.SGD([_param()], lr=True), TypeError, r"SGD: lr must be a number, got bool"),
    (lambda: optim.SGD([_param()], lr=0.1, momentum="a"), TypeError, r"SGD: momentum must be a number, got str"),
    (lambda: optim.SGD([_param()], lr=0.1, momentum=0.9, nesterov="no"), TypeError,
     r"SGD: nesterov must be True or False"),
    (lambda: optim.Adam([_param()], betas=("a", "b")), TypeError, r"Adam: betas\[0\] must be a number, got str"),
    (lambda: optim.Adam([_param()], amsgrad="yes"), TypeError, r"Adam: amsgrad must be True or False"),
    (lambda: optim.Adam([_param()], eps=float("nan")), ValueError, r"Adam: eps must be finite, got nan"),
    (lambda: optim.Adam([_param()], lr=float("inf")), ValueError, r"Adam: lr must be finite, got inf"),
    (lambda: optim.Adam([_param()], lr=float("nan")), ValueError, r"Adam: lr must be finite"),
    (lambda: optim.AdamW([_param()], weight_decay=-1e-2), ValueError, r"AdamW: weight_decay must be non-negative"),
    (lambda: optim.Adam([_param()], betas=(0.9, float("nan"))), ValueError, r"Adam: betas\[1\] must be finite"),
    (lambda: optim.RMSprop([_param()], alpha=float("inf")), ValueError, r"RMSprop: alpha must be finite"),
    (lambda: optim.RMSprop([_param()], momentum=-0.5), ValueError, r"RMSprop: momentum must be non-negative"),
    (lambda: optim.Adagrad([_param()], lr_decay=float("nan")), ValueError, r"Adagrad: lr_decay must be finite"),
    (lambda: optim.SGD([_param()], lr=0.1, dampening=-1), ValueError, r"SGD: dampening must be non-negative"),
    (lambda: optim.SGD([{"params": [_param()], "lr": "1"}], lr=0.1), TypeError, r"SGD: lr must be a number"),
])
def test_bad_hyperparameters_are_rejected_at_construction(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def test_numpy_scalar_hyperparameters_are_accepted_and_stored_as_python_floats():
    opt = optim.Adam([_param()], lr=np.float32(0.01), betas=(np.float64(0.8), np.float32(0.9)), eps=np.float32(1e-6))
    group = opt.param_groups[0]
    assert type(group["lr"]) is float and group["lr"] == pytest.approx(0.01)
    assert all(type(beta) is float for beta in group["betas"])


def test_a_learning_rate_of_zero_is_accepted_and_a_negative_one_refused():
    # As in PyTorch: a cosine schedule ends at lr = 0, and its state must load again.
    opt = optim.Adam([_param()], lr=0.0)
    optim.Adam([_param()], lr=0.1).load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match=r"SGD: lr must be non-negative, got -0.1"):
        optim.SGD([_param()], lr=-0.1)


def _adam_after_one_step() -> tuple[optim.Adam, Tensor]:
    p = _param()
    opt = optim.Adam([p], lr=0.1)
    p.grad = Tensor(np.ones(3, np.float32))
    opt.step()
    return opt, p


@pytest.mark.parametrize("missing", ["exp_avg", "exp_avg_sq", "step"])
def test_optimizer_state_dict_missing_its_moments_is_rejected_at_load(missing):
    opt, _ = _adam_after_one_step()
    saved = opt.state_dict()
    del saved["state"][0][missing]
    fresh, _ = _adam_after_one_step()
    before = fresh.state_dict()
    with pytest.raises(ValueError, match=rf"Adam.load_state_dict: the state of parameter 0 .* is missing '{missing}'"):
        fresh.load_state_dict(saved)
    after = fresh.state_dict()  # nothing changed
    np.testing.assert_array_equal(after["state"][0]["exp_avg"], before["state"][0]["exp_avg"])


def test_optimizer_state_dict_with_a_bad_hyperparameter_is_rejected_at_load():
    opt, _ = _adam_after_one_step()
    saved = opt.state_dict()
    saved["param_groups"][0]["eps"] = float("nan")
    message = r"Adam.load_state_dict: a saved hyperparameter is invalid: .*eps must be finite"
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(saved)
    assert opt.param_groups[0]["eps"] == 1e-8


def test_optimizer_state_dict_round_trip_still_works():
    opt, p = _adam_after_one_step()
    other = optim.Adam([p], lr=0.1)
    other.load_state_dict(opt.state_dict())
    np.testing.assert_array_equal(other.state[p]["exp_avg"], opt.state[p]["exp_avg"])


@pytest.mark.parametrize("name, error, pattern", [
    ("a.b", KeyError, r"add_module: the name must not contain '.'"),
    ("", KeyError, r"add_module: the name must not be empty"),
    (3, TypeError, r"add_module: the name must be a string, got int"),
    ("forward", KeyError, r"add_module: 'forward' is already an attribute of Module"),
])
def test_add_module_rejects_bad_names_at_once(name, error, pattern):
    with pytest.raises(error, match=pattern):
        nn.Module().add_module(name, nn.Linear(2, 2))


def test_register_parameter_and_buffer_reject_dotted_names():
    module = nn.Module()
    with pytest.raises(KeyError, match=r"register_parameter: the name must not contain '.'"):
        module.register_parameter("w.x", nn.Parameter(np.zeros(2, np.float32)))
    with pytest.raises(KeyError, match=r"register_buffer: the name must not contain '.'"):
        module.register_buffer("r.x", Tensor(np.zeros(2, np.float32)))


# ---------------------------------------------------------------------------
# Messages name the op the user called
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("compare, op", [
    (lambda a, b: a < b, r"lt \(<\)"), (lambda a, b: a <= b, r"le \(<=\)"), (lambda a, b: a > b, r"gt \(>\)"),
    (lambda a, b: a >= b, r"ge \(>=\)"), (lambda a, b: a == b, r"eq \(==\)"), (lambda a, b: a != b, r"ne \(!=\)"),
])
def test_comparisons_of_unbroadcastable_shapes_name_the_comparison(compare, op):
    with pytest.raises(ValueError, match=rf"{op}: shapes \(3,\) and \(2,\) cannot be broadcast together"):
        compare(f32([1, 2, 3]), f32([1, 2]))
    with pytest.raises(ValueError, match=rf"{op}: shapes \(3,\) and \(2,\)"):
        compare(f32([1, 2, 3]), np.array([1.0, 2.0]))


def test_minimum_reports_minimum():
    with pytest.raises(ValueError, match=r"^minimum: shapes \(3,\) and \(2,\) cannot be broadcast together"):
        tg.minimum(f32([1, 2, 3]), f32([1, 2]))


def test_stack_reports_stack_for_an_axis_out_of_range():
    with pytest.raises(ValueError, match=r"^stack: axis 5 is out of range .* shape \(6,\)"):
        tg.stack([f32(X), f32(X)], axis=5)
    assert tg.stack([f32(X), f32(X)], axis=-1).shape == (6, 2)


def test_astype_refuses_complex_like_the_constructor():
    with pytest.raises(TypeError, match=r"Tensor: unsupported dtype complex"):
        Tensor(np.zeros(2, dtype=complex))
    for dtype in (complex, np.complex64, "U3", object):
        with pytest.raises(TypeError, match=r"astype: unsupported dtype"):
            f32(X).astype(dtype)


# ---------------------------------------------------------------------------
# The Tensor constructor
# ---------------------------------------------------------------------------


def test_a_ragged_list_gives_a_clear_error():
    with pytest.raises(ValueError, match=r"^Tensor: cannot make a tensor from a ragged nested list"):
        Tensor([[1, 2], [3]])


def test_a_list_of_0d_tensors_is_accepted_like_numbers():
    a = Tensor(np.float32(1.5), requires_grad=True)
    t = Tensor([a, Tensor(np.float32(2.0)), 3.0])
    assert t.shape == (3,) and t.dtype == np.float32
    np.testing.assert_array_equal(t.data, [1.5, 2.0, 3.0])
    assert not t.requires_grad  # values are copied, not the graph (as torch.tensor does)
    assert Tensor([Tensor(np.int64(1)), Tensor(np.int64(2))]).dtype == np.int64


def test_a_list_of_non_0d_tensors_points_to_stack():
    with pytest.raises(ValueError, match=r"Tensor: item 1 of the list is a tensor of shape \(2,\).*stack"):
        Tensor([Tensor(np.float32(1.0)), f32([1, 2])])
    with pytest.raises(ValueError, match=r"Tensor: item 0 .* shape \(2,\).*tinygrad_cnn.stack"):
        Tensor([f32([1, 2]), f32([3, 4])])


# ---------------------------------------------------------------------------
# Empty tensors
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("make, shape", [
    (lambda x: F.conv2d(x, t64(np.ones((3, 2, 3, 3))), t64(np.ones(3)), stride=2, padding=1), (0, 3, 3, 3)),
    (lambda x: F.conv2d(x, t64(np.ones((4, 1, 2, 2))), groups=2, dilation=2), (0, 4, 3, 3)),
    (lambda x: F.conv_transpose2d(x, t64(np.ones((2, 3, 3, 3))), t64(np.ones(3)), stride=2), (0, 3, 11, 11)),
    (lambda x: F.max_pool2d(x, 2), (0, 2, 2, 2)),
    (lambda x: F.max_pool2d(x, 3, stride=1, padding=1), (0, 2, 5, 5)),
    (lambda x: F.avg_pool2d(x, 2, padding=1), (0, 2, 3, 3)),
])
def test_convolution_and_pooling_of_an_empty_batch(make, shape):
    x = t64(np.zeros((0, 2, 5, 5)))
    out = make(x)
    assert out.shape == shape
    grads = tg.grad(out.sum(), [x])
    assert grads[0].shape == (0, 2, 5, 5)


def test_empty_batch_weight_gradient_is_zero_and_layers_work():
    x = t64(np.zeros((0, 2, 5, 5)))
    w = t64(np.ones((3, 2, 3, 3)))
    (gw,) = tg.grad(F.conv2d(x, w).sum(), [w])
    np.testing.assert_array_equal(gw.data, np.zeros((3, 2, 3, 3)))
    layer = nn.Conv2d(1, 4, 3)
    assert layer(Tensor(np.zeros((0, 1, 8, 8), np.float32))).shape == (0, 4, 6, 6)
    assert tg.gradcheck(lambda a, b: F.conv2d(a, b, padding=1), [x, w])


@pytest.mark.parametrize("call, shape", [
    (lambda x: F.softmax(x, axis=1), (0, 10)),
    (lambda x: F.log_softmax(x, axis=1), (0, 10)),
    (lambda x: x.max(axis=1), (0,)),
    (lambda x: x.min(axis=1), (0,)),
    (lambda x: x.max(axis=1, keepdims=True), (0, 1)),
    (lambda x: x.sum(axis=1), (0,)),
    (lambda x: x.sum(axis=0), (10,)),
    (lambda x: x.mean(axis=1), (0,)),
    (lambda x: F.cross_entropy(x, np.zeros(0, np.int64), reduction="none"), (0,)),
])
def test_reductions_over_a_non_empty_axis_of_an_empty_tensor(call, shape):
    x = t64(np.zeros((0, 10)))
    out = call(x)
    assert out.shape == shape
    (g,) = tg.grad(out.sum(), [x])
    assert g.shape == (0, 10)


def test_max_over_an_empty_axis_raises_like_pytorch():
    x = t64(np.zeros((0, 10)))
    with pytest.raises(ValueError, match=r"max: cannot reduce over an empty axis: axis 0 of input shape \(0, 10\)"):
        x.max(axis=0)
    with pytest.raises(ValueError, match=r"min: cannot reduce over an empty axis"):
        x.min()


def test_sum_and_mean_over_an_empty_axis_are_zero_and_nan_silently():
    x = t64(np.zeros((0, 10)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(x.sum(axis=0).data, np.zeros(10))
        assert np.isnan(x.mean(axis=0).data).all()


# ---------------------------------------------------------------------------
# Overflow and invalid values: inf and nan as in PyTorch, never a RuntimeWarning
# ---------------------------------------------------------------------------

HUGE32 = np.float32(3e38)


def _bce_extreme():
    return F.binary_cross_entropy_with_logits(f32([1e38, -1e38]), np.array([1.0, 0.0], np.float32))


@pytest.mark.parametrize("thunk", [
    lambda: f32([1.0]) + 1e40,
    lambda: 1e40 - f32([1.0]),
    lambda: Tensor(np.array([1.0], np.float16)) * 1e6,
    lambda: f32([1e30]) * f32([1e30]),
    lambda: f32([np.inf]) - f32([np.inf]),
    lambda: f32([0.0]) * f32([np.inf]),
    lambda: f32([1.0]) / f32([0.0]),
    lambda: f32([0.0]) / 0.0,
    lambda: tg.exp(f32([1000.0])),
    lambda: tg.log(f32([0.0, -1.0])),
    lambda: tg.sqrt(f32([-1.0])),
    lambda: f32([-8.0]) ** 0.5,
    lambda: f32([1e30]) ** 2,
    lambda: f32([HUGE32, HUGE32]).sum(),
    lambda: f32([HUGE32, HUGE32]).mean(),
    lambda: f32([HUGE32, -HUGE32]).var(),
    lambda: f32([[HUGE32, HUGE32]]) @ f32([[HUGE32], [HUGE32]]),
    lambda: F.linear(f32([[HUGE32, HUGE32]]), f32([[HUGE32, HUGE32]])),
    lambda: F.conv2d(Tensor(np.full((1, 1, 2, 2), HUGE32)), Tensor(np.full((1, 1, 2, 2), HUGE32))),
    lambda: F.avg_pool2d(Tensor(np.full((1, 1, 2, 2), HUGE32)), 2),
    lambda: F.mse_loss(f32([HUGE32]), np.array([-HUGE32], np.float32)),
    lambda: F.leaky_relu(f32([HUGE32]), negative_slope=10.0),
    _bce_extreme,
    lambda: f32([1e10]).astype(np.float16),
    lambda: f32([np.nan]).astype(np.int32),
    lambda: F.softmax(Tensor(np.array([[6e4, -6e4]], np.float16)), axis=1),
    lambda: F.log_softmax(Tensor(np.array([[6e4, -6e4]], np.float16)), axis=1),
    lambda: F.cross_entropy(Tensor(np.array([[6e4, -6e4]], np.float16)), [0]),
    lambda: F.cross_entropy(Tensor(np.array([[6e4, -6e4]], np.float16)), [1]),
    lambda: F.batch_norm(f32(np.ones((2, 3))), f32(np.zeros(3)), f32(-np.ones(3))),
    lambda: F.batch_norm(f32([[HUGE32], [-HUGE32]]), None, None, training=True),
])
def test_no_runtime_warning_for_overflow_or_invalid_values(thunk):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = thunk()
    assert isinstance(out, Tensor)


def test_overflow_gives_inf_and_invalid_gives_nan_as_in_pytorch():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (f32([1.0]) + 1e40).data[0] == np.inf
        assert (f32([1e30]) * f32([1e30])).data[0] == np.inf
        assert np.isnan((f32([np.inf]) - f32([np.inf])).data[0])
        assert np.isnan(F.batch_norm(f32(np.ones((2, 3))), f32(np.zeros(3)), f32(-np.ones(3))).data).all()


def test_float16_cross_entropy_at_the_float16_limit_matches_pytorch():
    # PyTorch: 0 for the target of the huge logit, inf for the other, zero gradient for the first.
    logits = Tensor(np.array([[6e4, -6e4]], np.float16), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = F.cross_entropy(logits, [0])
        assert loss.item() == 0.0
        assert F.cross_entropy(logits.detach(), [1]).item() == np.inf
        loss.backward()
    np.testing.assert_array_equal(logits.grad.data, [[0.0, 0.0]])


def test_backward_through_overflowing_ops_gives_no_warning():
    x = Tensor(np.array([1e30, 0.0], np.float32), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = (x * x * x).sum()
        y.backward()
    assert x.grad.data[0] == np.inf


def test_the_users_own_numpy_warnings_are_left_alone():
    f32([1e30]) * f32([1e30])  # the library's quiet error state ends with its op
    with pytest.warns(RuntimeWarning, match="overflow"):
        np.array([1e30], np.float32) * np.array([1e30], np.float32)


# ---------------------------------------------------------------------------
# Cross-entropy with class probabilities
# ---------------------------------------------------------------------------


def _soft_reference(logits: np.ndarray, target: np.ndarray, reduction: str) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -(target * log_p).sum(axis=1)
    return {"mean": loss.mean(), "sum": loss.sum(), "none": loss}[reduction]


def _probabilities(rng, shape) -> np.ndarray:
    raw = rng.random(shape)
    return raw / raw.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("shape", [(4, 3), (2, 5, 3), (2, 3, 2, 2), (1, 1)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_soft_label_cross_entropy_values(rng, shape, reduction):
    logits = rng.normal(size=shape) * 3
    target = _probabilities(rng, shape)
    out = F.cross_entropy(t64(logits), t64(target, requires_grad=False), reduction=reduction)
    np.testing.assert_allclose(out.data, _soft_reference(logits, target, reduction), rtol=1e-12)


def test_soft_label_cross_entropy_with_one_hot_targets_equals_class_indices(rng):
    logits = rng.normal(size=(5, 4)).astype(np.float32)
    classes = np.array([0, 3, 1, 1, 2])
    one_hot = np.eye(4, dtype=np.float32)[classes]
    soft = F.cross_entropy(Tensor(logits), one_hot)
    hard = F.cross_entropy(Tensor(logits), classes)
    np.testing.assert_allclose(soft.data, hard.data, rtol=1e-6)
    assert soft.dtype == np.float32


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 2)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_soft_label_cross_entropy_gradients(rng, shape, reduction):
    logits = t64(rng.normal(size=shape))
    target = t64(_probabilities(rng, shape))  # the targets get a gradient too
    assert tg.gradcheck(lambda x, y: F.cross_entropy(x, y, reduction=reduction), [logits, target])
    assert tg.gradgradcheck(lambda x, y: F.cross_entropy(x, y, reduction=reduction), [logits, target])


def test_soft_label_cross_entropy_gradient_is_softmax_minus_target_over_n(rng):
    logits = rng.normal(size=(4, 3))
    target = _probabilities(rng, (4, 3))
    x = t64(logits)
    F.cross_entropy(x, target).backward()
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(x.grad.data, (p - target) / 4, rtol=1e-10)


def test_soft_label_cross_entropy_errors():
    x = f32(np.zeros((2, 3)))
    message = r"cross_entropy: float targets are class probabilities .* \(2, 3\), got \(2, 4\)"
    with pytest.raises(ValueError, match=message):
        F.cross_entropy(x, np.full((2, 4), 0.25, np.float32))
    with pytest.raises(ValueError, match=r"cross_entropy: ignore_index=1 is not supported with class-probability"):
        F.cross_entropy(x, np.full((2, 3), 1 / 3, np.float32), ignore_index=1)
    with pytest.raises(ValueError, match=r"cross_entropy: input must have shape \(N, C\)"):
        F.cross_entropy(f32([1.0, 2.0]), [0.5, 0.5])
    assert math.isclose(F.cross_entropy(x, np.full((2, 3), 1 / 3)).item(), math.log(3), rel_tol=1e-6)


# ---------------------------------------------------------------------------
# A few more ops and entry points
# ---------------------------------------------------------------------------


def test_clip_of_integers_with_a_fractional_bound_is_float32_and_with_whole_bounds_stays_integer():
    x = Tensor(INTS)
    out = x.clip(0, 1.5)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.data, [1.0, 0.0, 1.5])
    assert x.clip(0, 2).dtype == np.int64
    with pytest.raises(TypeError, match=r"clip: lo must be a number, got str"):
        x.clip("a")


def test_argmax_and_argmin_check_their_axis():
    with pytest.raises(TypeError, match=r"argmax: axis must be an int, got float"):
        f32(X).argmax(axis=0.0)
    with pytest.raises(ValueError, match=r"argmin: axis 3 is out of range"):
        f32(X).argmin(axis=3)
    assert f32(X).reshape(2, 3).argmax(axis=-1).tolist() == [2, 2]


def test_constructor_overflow_gives_inf_without_a_warning_as_in_pytorch():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Tensor([1e40]).data[0] == np.inf
        assert Tensor([7e4], dtype=np.float16).data[0] == np.inf


def test_optimizer_step_with_an_overflowing_gradient_gives_no_warning():
    p = Tensor(np.zeros(2, np.float32), requires_grad=True)
    opt = optim.Adam([p])
    p.grad = Tensor(np.array([1e30, 3e38], np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
    assert np.isfinite(p.data).all()


def test_dropout_layer_accepts_numpy_probabilities_and_refuses_strings():
    assert nn.Dropout(np.float32(0.25)).p == 0.25
    with pytest.raises(TypeError, match=r"Dropout: p must be a number, got str"):
        nn.Dropout("0.5")
    with pytest.raises(ValueError, match=r"Dropout: p is the probability"):
        nn.Dropout(1.0)


def test_scheduler_arguments_are_checked_by_type():
    opt = optim.SGD([_param()], lr=0.1)
    assert optim.lr_scheduler.StepLR(opt, np.int64(2), gamma=np.float32(0.5)).step_size == 2
    with pytest.raises(TypeError, match=r"StepLR: gamma must be a number, got str"):
        optim.lr_scheduler.StepLR(opt, 2, gamma="0.5")
    with pytest.raises(TypeError, match=r"StepLR: step_size must be an int, got float"):
        optim.lr_scheduler.StepLR(opt, 2.0)
    with pytest.raises(ValueError, match=r"CosineAnnealingLR: eta_min must be finite"):
        optim.lr_scheduler.CosineAnnealingLR(opt, 10, eta_min=float("nan"))


def test_pad_checks_its_widths_and_value():
    x = f32([1, 2])
    with pytest.raises(TypeError, match=r"pad: pad_width must hold ints, got 1.5"):
        x.pad(1.5)
    with pytest.raises(TypeError, match=r"pad: value must be a number, got str"):
        x.pad(1, value="x")
    np.testing.assert_array_equal(x.pad(np.int64(1), value=np.float32(2)).data, [2, 1, 2, 2])
