"""In-place changes and the version counter: every in-place path of the library
bumps `_version`, and backward refuses to use values changed after the
forward pass saved them."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import nn, optim

MODIFIED = "changed by an in-place operation"


def _model_and_batch() -> tuple[nn.Module, tg.Tensor, np.ndarray]:
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    x = tg.Tensor(np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32))
    y = np.array([0, 1, 2, 0, 1, 2])
    return model, x, y


def _loss(model: nn.Module, x: tg.Tensor, y: np.ndarray) -> tg.Tensor:
    return tg.functional.cross_entropy(model(x), y)


# ---------------------------------------------------------------------------
# The learners' trap: updating weights between forward and backward
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("make_optimizer", [
    lambda p: optim.SGD(p, lr=0.1),
    lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    lambda p: optim.Adam(p),
    lambda p: optim.AdamW(p),
    lambda p: optim.RMSprop(p, momentum=0.5, centered=True),
    lambda p: optim.Adagrad(p),
], ids=["sgd", "sgd-nesterov", "adam", "adamw", "rmsprop", "adagrad"])
def test_step_between_forward_and_backward_raises(make_optimizer) -> None:
    model, x, y = _model_and_batch()
    opt = make_optimizer(model.parameters())
    _loss(model, x, y).backward()  # gradients, so the first step changes the weights
    loss = _loss(model, x, y)
    version = model[2].weight._version  # the init functions bumped it already
    opt.step()
    assert model[2].weight._version == version + 1
    with pytest.raises(RuntimeError, match=MODIFIED) as error:
        loss.backward()
    message = str(error.value)
    assert "Linear" in message  # the op whose VJP reads the weight
    assert f"is at version {version + 1}" in message
    assert f"at version {version} when Linear was recorded" in message
    assert "'2.weight' (shape (3, 5), dtype float32)" in message  # the parameter, by name


def test_two_losses_with_a_step_in_between_raise() -> None:
    model, x, y = _model_and_batch()
    opt = optim.SGD(model.parameters(), lr=0.1)
    first = _loss(model, x, y)
    second = _loss(model, x * 2.0, y)
    first.backward()
    opt.step()
    with pytest.raises(RuntimeError, match=MODIFIED):
        second.backward()


def test_the_normal_training_loop_does_not_raise() -> None:
    model, x, y = _model_and_batch()
    opt = optim.Adam(model.parameters(), lr=0.01)
    versions = [p._version for p in model.parameters()]
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = _loss(model, x, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert [p._version for p in model.parameters()] == [v + 5 for v in versions]


def test_gradients_before_the_step_are_those_of_the_old_weights() -> None:
    # The right order (backward first, then step) gives the gradient at the
    # weights the forward pass used: the same as a fresh forward and backward.
    model, x, y = _model_and_batch()
    opt = optim.SGD(model.parameters(), lr=0.5)
    loss = _loss(model, x, y)
    loss.backward()
    expected = [p.grad.data.copy() for p in model.parameters()]
    opt.step()
    opt.zero_grad()
    with tg.no_grad():
        for p, g in zip(model.parameters(), expected):
            p.add_(tg.Tensor(g), alpha=0.5)  # undo the SGD step
    _loss(model, x, y).backward()
    for p, g in zip(model.parameters(), expected):
        np.testing.assert_allclose(p.grad.data, g, rtol=1e-5, atol=1e-6)


def test_retain_graph_then_step_then_second_backward_raises() -> None:
    model, x, y = _model_and_batch()
    opt = optim.SGD(model.parameters(), lr=0.1)
    loss = _loss(model, x, y)
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_step_on_a_parameter_that_the_vjp_does_not_read_is_allowed() -> None:
    # d(a + b)/da does not depend on b: changing b in place is harmless.
    a = tg.Tensor([1.0, 2.0], requires_grad=True)
    b = tg.Tensor([3.0, 4.0], requires_grad=True)
    out = (a + b).sum()
    with tg.no_grad():
        b.add_(1.0)
    out.backward()
    np.testing.assert_array_equal(a.grad.data, [1.0, 1.0])


# ---------------------------------------------------------------------------
# Every in-place path bumps the version
# ---------------------------------------------------------------------------


def test_optimizer_steps_bump_only_updated_parameters() -> None:
    used = tg.Tensor([1.0, 2.0], requires_grad=True)
    unused = tg.Tensor([1.0], requires_grad=True)
    opt = optim.SGD([used, unused], lr=0.1)
    (used * used).sum().backward()
    opt.step()
    assert used._version == 1 and unused._version == 0
    opt.zero_grad(set_to_none=False)
    assert used.grad._version == 1 and not used.grad.data.any()


@pytest.mark.parametrize("init_fn", [
    lambda t: nn.init.uniform_(t), lambda t: nn.init.normal_(t), lambda t: nn.init.constant_(t, 0.3),
    lambda t: nn.init.zeros_(t), lambda t: nn.init.ones_(t), lambda t: nn.init.xavier_uniform_(t),
    lambda t: nn.init.xavier_normal_(t), lambda t: nn.init.kaiming_uniform_(t), lambda t: nn.init.kaiming_normal_(t),
], ids=["uniform", "normal", "constant", "zeros", "ones", "xavier_uniform", "xavier_normal", "kaiming_uniform",
        "kaiming_normal"])
def test_init_functions_bump_the_version(init_fn) -> None:
    w = tg.Tensor(np.ones((3, 4), dtype=np.float32), requires_grad=True)
    x = tg.Tensor(np.ones((2, 4), dtype=np.float32))
    out = (x @ w.T).sum()
    init_fn(w)
    assert w._version == 1
    with pytest.raises(RuntimeError, match=MODIFIED):
        out.backward()


def test_load_state_dict_bumps_the_versions() -> None:
    model, x, y = _model_and_batch()
    loss = _loss(model, x, y)
    versions = [p._version for p in model.parameters()]
    model.load_state_dict(model.state_dict())
    assert [p._version for p in model.parameters()] == [v + 1 for v in versions]
    with pytest.raises(RuntimeError, match=MODIFIED):
        loss.backward()


def test_module_to_bumps_the_versions() -> None:
    model, _, _ = _model_and_batch()
    versions = [p._version for p in model.parameters()]
    model.double()
    assert [p._version for p in model.parameters()] == [v + 1 for v in versions]
    assert all(p.dtype == np.float64 for p in model.parameters())


@pytest.mark.parametrize("name, call, expected", [
    ("zero_", lambda t: t.zero_(), [0.0, 0.0, 0.0]),
    ("fill_", lambda t: t.fill_(2.5), [2.5, 2.5, 2.5]),
    ("copy_", lambda t: t.copy_(np.array([7.0, 8.0, 9.0])), [7.0, 8.0, 9.0]),
    ("copy_-broadcast", lambda t: t.copy_(tg.Tensor([4.0])), [4.0, 4.0, 4.0]),
    ("add_", lambda t: t.add_(tg.Tensor([1.0, 1.0, 1.0])), [2.0, 3.0, 4.0]),
    ("add_-alpha", lambda t: t.add_(2.0, alpha=-1.5), [-2.0, -1.0, 0.0]),
    ("sub_", lambda t: t.sub_([1.0, 2.0, 3.0]), [0.0, 0.0, 0.0]),
    ("sub_-alpha", lambda t: t.sub_(tg.Tensor([1.0, 1.0, 1.0]), alpha=2), [-1.0, 0.0, 1.0]),
    ("mul_", lambda t: t.mul_(tg.Tensor([2.0, 0.5, -1.0])), [2.0, 1.0, -3.0]),
])
def test_inplace_methods_change_values_return_self_and_bump(name, call, expected) -> None:
    t = tg.Tensor([1.0, 2.0, 3.0])
    array = t.data
    assert call(t) is t
    assert t.data is array  # written into the same array
    np.testing.assert_allclose(t.data, expected)
    assert t.dtype == np.float32 and t._version == 1


@pytest.mark.parametrize("call", [
    lambda t: t.zero_(), lambda t: t.fill_(1.0), lambda t: t.copy_(np.zeros(3)), lambda t: t.add_(1.0),
    lambda t: t.sub_(1.0), lambda t: t.mul_(2.0),
], ids=["zero_", "fill_", "copy_", "add_", "sub_", "mul_"])
def test_inplace_methods_refuse_a_leaf_that_requires_grad_unless_no_grad(call) -> None:
    w = tg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad.*no_grad"):
        call(w)
    assert w._version == 0 and w.data.tolist() == [1.0, 2.0, 3.0]
    with tg.no_grad():
        call(w)
    assert w._version == 1


def test_inplace_on_a_recorded_result_is_refused_but_allowed_under_no_grad() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    with pytest.raises(RuntimeError, match=r"add_: .*computed by a recorded op \(Exp\)"):
        y.add_(1.0)
    with tg.no_grad():
        y.add_(1.0)
    # Exp's VJP reads its output, which changed: backward refuses.
    with pytest.raises(RuntimeError, match=r"gradient of Exp needs.*its output.*version 1"):
        y.sum().backward()


def test_inplace_with_an_operand_that_requires_grad_is_refused() -> None:
    t = tg.Tensor([1.0, 2.0])
    w = tg.Tensor([1.0, 1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="add_: the other operand requires grad"):
        t.add_(w)
    with pytest.raises(RuntimeError, match="copy_: src requires grad"):
        t.copy_(w)


@pytest.mark.parametrize("call, error, match", [
    (lambda t: t.add_(np.ones((2, 3))), ValueError, r"add_: an operand of shape \(2, 3\) cannot be broadcast"),
    (lambda t: t.copy_(np.ones(4)), ValueError, r"copy_: a source of shape \(4,\) cannot be broadcast"),
    (lambda t: t.fill_([1.0, 2.0, 3.0]), ValueError, "fill_: value must be a number"),
    (lambda t: t.mul_("a"), TypeError, "mul_: the other operand must be a Tensor, an array or a number"),
    (lambda t: t.add_(1.0, alpha="x"), TypeError, "add_: alpha must be a number"),
], ids=["add-shape", "copy-shape", "fill-shape", "mul-type", "alpha-type"])
def test_inplace_bad_arguments(call, error, match) -> None:
    t = tg.Tensor([1.0, 2.0, 3.0])
    with pytest.raises(error, match=match):
        call(t)
    assert t._version == 0 and t.data.tolist() == [1.0, 2.0, 3.0]


def test_fill_converts_to_the_tensor_dtype_as_pytorch_does() -> None:
    t = tg.Tensor([1, 2, 3])
    t.fill_(2.7)
    assert t.data.tolist() == [2, 2, 2] and t.dtype == np.int64
    with pytest.raises(ValueError, match="fill_: cannot fill a int64 tensor with nan"):
        t.fill_(float("nan"))
    with pytest.raises(ValueError, match="fill_: value must be a number or a one-element tensor, got a str"):
        t.fill_("1")
    assert t._version == 1


def test_inplace_float_into_int_is_refused() -> None:
    t = tg.Tensor([1, 2, 3])
    with pytest.raises(TypeError, match="add_: a float32 operand cannot be written into a int64 tensor"):
        t.add_(tg.Tensor([0.5, 0.5, 0.5]))
    t.add_(2)
    assert t.data.tolist() == [3, 4, 5] and t.dtype == np.int64


def test_inplace_on_a_read_only_broadcast_is_refused() -> None:
    b = tg.Tensor([1.0, 2.0]).broadcast_to(3, 2)
    with pytest.raises(ValueError, match="zero_: the tensor's array .* is read-only"):
        b.zero_()


# ---------------------------------------------------------------------------
# Views share the version counter of their base
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("make_view", [
    lambda w: w.T, lambda w: w.reshape(12), lambda w: w[1:], lambda w: w[0], lambda w: w.unsqueeze(0),
    lambda w: w.detach(), lambda w: w.reshape(2, 6).T,
], ids=["T", "reshape", "slice", "row", "unsqueeze", "detach", "view-of-view"])
def test_views_share_the_version_of_their_base(make_view) -> None:
    w = tg.Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    view = make_view(w)
    assert view._version == 0
    with tg.no_grad():
        w.mul_(2.0)
    assert view._version == 1
    with tg.no_grad():
        view.zero_()  # writes into w's memory: bumps w too
    assert w._version == 2 and view._version == 2
    assert not w.data.any() or view.numel() < w.numel()


def test_weight_changed_through_its_transpose_is_detected() -> None:
    # x @ w.T reads w.T, a view: changing the weight must still be caught.
    w = tg.Tensor(np.ones((3, 4), dtype=np.float32), requires_grad=True, name="w")
    x = tg.Tensor(np.ones((2, 4), dtype=np.float32), requires_grad=True)
    out = (x @ w.T).sum()
    with tg.no_grad():
        w[0].fill_(5.0)  # through another view
    with pytest.raises(RuntimeError, match=r"a view of 'w' \(shape \(3, 4\)"):
        out.backward()


def test_data_changed_in_place_is_detected_for_inputs_without_grad() -> None:
    w = tg.Tensor(np.ones((3, 4), dtype=np.float32), requires_grad=True)
    x = tg.Tensor(np.ones((2, 4), dtype=np.float32))
    out = (x @ w.T).sum()
    x.mul_(3.0)  # x needs no grad, so this is allowed in grad mode, but w's gradient reads x
    with pytest.raises(RuntimeError, match=MODIFIED):
        out.backward()


def test_writing_into_dot_data_bypasses_the_counter() -> None:
    # As in PyTorch: .data is the raw array, and writes into it are not seen.
    w = tg.Tensor([1.0, 2.0], requires_grad=True)
    out = (w * w).sum()
    w.data[...] = [10.0, 20.0]
    out.backward()
    assert w._version == 0
    np.testing.assert_array_equal(w.grad.data, [20.0, 40.0])  # computed from the new values


def test_a_detached_non_leaf_does_not_keep_the_graph_alive() -> None:
    import gc
    import weakref

    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    node = weakref.ref(y._ctx)
    kept = y.detach()
    del y
    gc.collect()
    assert node() is None and kept.data.tolist() == [2.0, 4.0]


# ---------------------------------------------------------------------------
# load_state_dict: everything is checked before anything is changed
# ---------------------------------------------------------------------------


def _state_with(model: nn.Module, key: str, value: object) -> dict:
    state = {name: np.full_like(array, 7.0) for name, array in model.state_dict().items()}
    state[key] = value
    return state


@pytest.mark.parametrize("bad_value, match", [
    (None, "the value is None"),
    (np.ones((3, 5), dtype=np.complex64), "complex values"),
    ("abc", "is not numeric"),
    (np.array(["a"] * 15).reshape(3, 5), "is not numeric"),
    ({"a": 1}, "is not numeric"),
    ([[1.0, 2.0], [3.0]], "cannot make an array"),
    (np.ones((5, 3)), r"checkpoint \(5, 3\) vs model \(3, 5\)"),
], ids=["none", "complex", "string", "string-array", "dict", "ragged", "shape"])
def test_load_state_dict_bad_last_value_changes_nothing(bad_value, match) -> None:
    model, _, _ = _model_and_batch()
    versions = [p._version for p in model.parameters()]
    before = {name: array.copy() for name, array in model.state_dict().items()}
    last_key = list(before)[-2]  # "2.weight", the last weight: every earlier key is valid
    assert last_key == "2.weight"
    with pytest.raises(ValueError, match=match):
        model.load_state_dict(_state_with(model, last_key, bad_value))
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(array, before[name])
    assert [p._version for p in model.parameters()] == versions


def test_load_state_dict_converts_dtypes_and_bumps() -> None:
    model, _, _ = _model_and_batch()
    versions = [p._version for p in model.parameters()]
    state = {name: np.ones(array.shape, dtype=np.float64) for name, array in model.state_dict().items()}
    model.load_state_dict(state)
    for p, version in zip(model.parameters(), versions):
        assert p.dtype == np.float32 and (p.data == 1).all() and p._version == version + 1


def test_load_state_dict_non_integer_into_integer_buffer_is_refused() -> None:
    bn = nn.BatchNorm1d(2)
    state = bn.state_dict()
    state["num_batches_tracked"] = np.array(1.5)
    with pytest.raises(ValueError, match="non-integer values cannot be loaded into a int64 tensor"):
        bn.load_state_dict(state)
    state["num_batches_tracked"] = np.array(3.0)
    bn.load_state_dict(state)
    assert bn.num_batches_tracked.data == 3
