"""Tests of tinygrad_cnn.optim: each optimizer against its update rule written
out by hand, against torch.optim (when installed), state saving and
restoring, and the learning-rate schedulers."""

import math

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import optim

# ---------------------------------------------------------------------------
# A test problem: a quadratic loss with known gradient.
#   L(p) = sum(0.5 * c * p^2 + d * p)   so   dL/dp = c * p + d
# ---------------------------------------------------------------------------

SHAPES = [(3, 4), (5,), (2, 1, 3)]


def make_problem(rng, dtype=np.float64):
    starts = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
    cs = [rng.uniform(0.5, 2.0, shape).astype(dtype) for shape in SHAPES]
    ds = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
    return starts, cs, ds


def loss_of(params, cs, ds):
    total = None
    for p, c, d in zip(params, cs, ds, strict=True):
        term = (0.5 * tg.Tensor(c) * p * p + tg.Tensor(d) * p).sum()
        total = term if total is None else total + term
    return total


def run_ours(optimizer_class, kwargs, starts, cs, ds, steps):
    params = [tg.Tensor(s.copy(), requires_grad=True) for s in starts]
    opt = optimizer_class(params, **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        loss_of(params, cs, ds).backward()
        opt.step()
    return [p.data for p in params]


# ---------------------------------------------------------------------------
# Hand-written reference rules, in the textbook form (one parameter array).
# ---------------------------------------------------------------------------


def reference_sgd(p, c, d, steps, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    p = p.copy()
    velocity = None
    for _ in range(steps):
        g = c * p + d + weight_decay * p
        if momentum:
            velocity = g.copy() if velocity is None else momentum * velocity + (1 - dampening) * g
            g = g + momentum * velocity if nesterov else velocity
        p = p - lr * g
    return p


def reference_adam(p, c, d, steps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                   decoupled=False):
    beta1, beta2 = betas
    p = p.copy()
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    v_max = np.zeros_like(p)
    for t in range(1, steps + 1):
        g = c * p + d
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        v_max = np.maximum(v_max, v)
        m_hat = m / (1 - beta1**t)
        v_hat = (v_max if amsgrad else v) / (1 - beta2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def reference_rmsprop(p, c, d, steps, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                      centered=False):
    p = p.copy()
    s = np.zeros_like(p)
    a = np.zeros_like(p)
    b = np.zeros_like(p)
    for _ in range(steps):
        g = c * p + d + weight_decay * p
        s = alpha * s + (1 - alpha) * g**2
        a = alpha * a + (1 - alpha) * g
        denominator = np.sqrt(s - a**2 if centered else s) + eps
        if momentum > 0:
            b = momentum * b + g / denominator
            p = p - lr * b
        else:
            p = p - lr * g / denominator
    return p


def reference_adagrad(p, c, d, steps, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                      eps=1e-10):
    p = p.copy()
    s = np.full_like(p, initial_accumulator_value)
    for t in range(1, steps + 1):
        g = c * p + d + weight_decay * p
        lr_t = lr / (1 + (t - 1) * lr_decay)
        s = s + g**2
        p = p - lr_t * g / (np.sqrt(s) + eps)
    return p


CASES = [
    (optim.SGD, reference_sgd, dict(lr=0.1)),
    (optim.SGD, reference_sgd, dict(lr=0.05, momentum=0.9)),
    (optim.SGD, reference_sgd, dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    (optim.SGD, reference_sgd, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    (optim.Adam, reference_adam, dict()),
    (optim.Adam, reference_adam, dict(lr=0.05, betas=(0.8, 0.95), weight_decay=0.1)),
    (optim.Adam, reference_adam, dict(lr=0.05, amsgrad=True)),
    (optim.AdamW, lambda *a, **k: reference_adam(*a, decoupled=True, **{"weight_decay": 1e-2, **k}), dict(lr=0.05)),
    (optim.AdamW, lambda *a, **k: reference_adam(*a, decoupled=True, **k),
     dict(lr=0.05, weight_decay=0.3, amsgrad=True)),
    (optim.RMSprop, reference_rmsprop, dict()),
    (optim.RMSprop, reference_rmsprop, dict(lr=0.01, alpha=0.9, momentum=0.5, weight_decay=0.05)),
    (optim.RMSprop, reference_rmsprop, dict(lr=0.01, centered=True)),
    (optim.RMSprop, reference_rmsprop, dict(lr=0.01, centered=True, momentum=0.9)),
    (optim.Adagrad, reference_adagrad, dict()),
    (optim.Adagrad, reference_adagrad, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5)),
]


def case_id(case):
    cls, _, kwargs = case
    return cls.__name__ + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_hand_written_rule(case, rng):
    optimizer_class, reference, kwargs = case
    starts, cs, ds = make_problem(rng)
    steps = 5
    ours = run_ours(optimizer_class, kwargs, starts, cs, ds, steps)
    for p, start, c, d in zip(ours, starts, cs, ds, strict=True):
        expected = reference(start, c, d, steps, **kwargs)
        np.testing.assert_allclose(p, expected, rtol=1e-10, atol=1e-12)
        # The parameters really moved.
        assert not np.allclose(p, start)


def _torch_optimizer(torch, optimizer_class, params, kwargs):
    return getattr(torch.optim, optimizer_class.__name__)(params, **kwargs)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_torch_after_ten_steps(case, dtype, rng):
    torch = pytest.importorskip("torch")
    optimizer_class, _, kwargs = case
    starts, cs, ds = make_problem(rng, dtype)
    steps = 10
    ours = run_ours(optimizer_class, kwargs, starts, cs, ds, steps)

    params = [torch.tensor(s.copy(), requires_grad=True) for s in starts]
    opt = _torch_optimizer(torch, optimizer_class, params, kwargs)
    for _ in range(steps):
        opt.zero_grad()
        terms = [(0.5 * torch.tensor(c) * p * p + torch.tensor(d) * p).sum()
                 for p, c, d in zip(params, cs, ds, strict=True)]
        loss = sum(terms)
        loss.backward()
        opt.step()
    for mine, theirs in zip(ours, params, strict=True):
        assert mine.dtype == dtype
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------
# Behaviour of the base class
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_state_dict_round_trip_gives_identical_steps(case, rng):
    optimizer_class, _, kwargs = case
    starts, cs, ds = make_problem(rng, np.float32)
    params = [tg.Tensor(s.copy(), requires_grad=True) for s in starts]
    opt = optimizer_class(params, **kwargs)

    def train(params, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            loss_of(params, cs, ds).backward()
            opt.step()

    train(params, opt, 3)
    saved_state = opt.state_dict()
    saved_params = [p.data.copy() for p in params]
    train(params, opt, 4)

    # The saved state is a copy: training on did not change it.
    resumed = [tg.Tensor(s, requires_grad=True) for s in saved_params]
    fresh = optimizer_class(resumed, **kwargs)
    fresh.load_state_dict(saved_state)
    train(resumed, fresh, 4)
    for original, again in zip(params, resumed, strict=True):
        np.testing.assert_array_equal(original.data, again.data)


def test_state_dict_layout(rng):
    a = tg.Tensor(rng.standard_normal(3), requires_grad=True)
    b = tg.Tensor(rng.standard_normal(2), requires_grad=True)
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    (a * a).sum().backward()
    opt.step()
    state = opt.state_dict()
    assert [g["params"] for g in state["param_groups"]] == [[0], [1]]
    assert [g["lr"] for g in state["param_groups"]] == [0.1, 0.5]
    assert set(state["state"]) == {0}  # b had no gradient: no state yet
    assert state["state"][0]["step"] == 1
    assert set(state["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}


def test_load_state_dict_rejects_a_different_model():
    a = tg.zeros(3, requires_grad=True)
    b = tg.zeros(2, requires_grad=True)
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    (a.sum() + b.sum()).backward()
    opt.step()
    state = opt.state_dict()
    with pytest.raises(ValueError, match="group 0 has 2 parameters in the saved state but 1 here"):
        optim.SGD([tg.zeros(3, requires_grad=True)], lr=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match=r"has shape \(3,\) but the parameter has shape \(4,\)"):
        optim.SGD([tg.zeros(4, requires_grad=True), tg.zeros(2, requires_grad=True)], lr=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match="1 parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(state)


def test_load_state_dict_restores_hyperparameters():
    a = tg.zeros(3, requires_grad=True)
    opt = optim.SGD([a], lr=0.1)
    opt.param_groups[0]["lr"] = 0.025  # e.g. set by a scheduler
    other = optim.SGD([tg.zeros(3, requires_grad=True)], lr=0.1)
    other.load_state_dict(opt.state_dict())
    assert other.param_groups[0]["lr"] == 0.025


def test_params_without_grad_are_skipped():
    a = tg.Tensor(np.ones(3), requires_grad=True)
    b = tg.Tensor(np.ones(2), requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    (a * 2.0).sum().backward()
    opt.step()
    assert not np.allclose(a.data, 1.0)
    np.testing.assert_array_equal(b.data, np.ones(2))
    assert b not in opt.state


def test_zero_grad_sets_none():
    a = tg.Tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([a], lr=0.1)
    a.sum().backward()
    assert a.grad is not None
    opt.zero_grad()
    assert a.grad is None


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_updates_in_place_and_keep_float32(case):
    optimizer_class, _, kwargs = case
    a = tg.Tensor(np.linspace(-1, 1, 6, dtype=np.float32), requires_grad=True)
    array = a.data
    opt = optimizer_class([a], **kwargs)
    for _ in range(2):
        opt.zero_grad()
        (a * a * 3.0).sum().backward()
        opt.step()
    assert a.data is array
    assert a.dtype == np.float32
    for value in opt.state[a].values():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32


def test_step_does_not_record_a_graph():
    a = tg.Tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([a], lr=0.1)
    a.sum().backward()
    opt.step()
    assert a.is_leaf and a.grad_fn is None


def test_param_groups_use_their_own_lr():
    a = tg.Tensor(np.zeros(2), requires_grad=True)
    b = tg.Tensor(np.zeros(2), requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    (a.sum() + b.sum()).backward()
    opt.step()
    np.testing.assert_allclose(a.data, -0.1)
    np.testing.assert_allclose(b.data, -1.0)
    assert opt.param_groups[1]["momentum"] == 0  # filled from the defaults


def test_closure_is_called_and_its_loss_returned():
    a = tg.Tensor(np.array([2.0]), requires_grad=True)
    opt = optim.SGD([a], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (a * a).sum()
        loss.backward()
        return loss

    with tg.no_grad():  # the closure still records its graph
        loss = opt.step(closure)
    assert loss.item() == 4.0
    np.testing.assert_allclose(a.data, [1.0])  # 2 - 0.25 * 4


def test_a_model_trains():
    # Fit y = 3x - 1 with SGD + momentum: the loss must fall a lot.
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((64, 1)).astype(np.float32))
    y = x * 3.0 - 1.0
    w = tg.zeros(1, 1, requires_grad=True)
    b = tg.zeros(1, requires_grad=True)
    opt = optim.SGD([w, b], lr=0.1, momentum=0.9)
    losses = []
    for _ in range(200):
        opt.zero_grad()
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 1e-3 * losses[0]
    np.testing.assert_allclose(w.data, [[3.0]], atol=1e-2)


# ---------------------------------------------------------------------------
# Bad arguments
# ---------------------------------------------------------------------------


def _p():
    return tg.zeros(2, requires_grad=True)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: optim.SGD([_p()], lr=-0.1), "SGD: lr must be non-negative, got -0.1"),
        (lambda: optim.SGD([_p()], lr=0.1, momentum=-0.5), "SGD: momentum must be non-negative, got -0.5"),
        (lambda: optim.SGD([_p()], lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
        (lambda: optim.SGD([_p()], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening = 0"),
        (lambda: optim.SGD([_p()], lr=0.1, weight_decay=-1), "weight_decay must be non-negative"),
        (lambda: optim.Adam([_p()], betas=(1.0, 0.999)), r"Adam: betas\[0\] must be in \[0, 1\), got 1.0"),
        (lambda: optim.Adam([_p()], betas=(0.9, -0.1)), r"betas\[1\] must be in \[0, 1\)"),
        (lambda: optim.AdamW([_p()], betas=(0.9,)), "AdamW: betas must be a pair"),
        (lambda: optim.Adam([_p()], eps=-1e-8), "eps must be non-negative"),
        (lambda: optim.RMSprop([_p()], alpha=1.5), r"RMSprop: alpha must be in \[0, 1\]"),
        (lambda: optim.RMSprop([_p()], momentum=-0.1), "RMSprop: momentum must be non-negative"),
        (lambda: optim.Adagrad([_p()], lr_decay=-0.1), "Adagrad: lr_decay must be non-negative"),
        (lambda: optim.Adagrad([_p()], initial_accumulator_value=-1), "initial_accumulator_value"),
        (lambda: optim.SGD([], lr=0.1), "SGD: got an empty parameter list"),
        (lambda: optim.SGD([{"params": []}], lr=0.1), "empty parameter list"),
        (lambda: optim.Adam([{"params": [_p()], "lr": -1.0}]), "Adam: lr must be non-negative, got -1.0"),
    ],
)
def test_bad_hyperparameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_params():
    p = _p()
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match=r"params\[1\] is a ndarray, not a Tensor"):
        optim.SGD([p, np.zeros(2)], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="dtype int64"):
        optim.SGD([tg.Tensor(np.zeros(2, dtype=np.int64))], lr=0.1)
    with pytest.raises(ValueError, match="not a leaf"):
        optim.SGD([p * 2.0], lr=0.1)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_a_set_of_params_is_refused_as_pytorch_does(name):
    a, b = _p(), _p()
    make = getattr(optim, name)
    with pytest.raises(TypeError, match=rf"{name}: params is a set; .*order of a set changes from run to run"):
        make({a, b}, lr=0.1)
    with pytest.raises(TypeError, match=rf"{name}: params is a frozenset"):
        make(frozenset([a]), lr=0.1)
    with pytest.raises(TypeError, match=rf"{name}: the 'params' of a parameter group is a set"):
        make([{"params": {a, b}}], lr=0.1)
    opt = make([a], lr=0.1)
    with pytest.raises(TypeError, match=rf"{name}: the 'params' of a parameter group is a set"):
        opt.add_param_group({"params": {b}})
    assert len(opt.param_groups) == 1
    assert len(make((a, b), lr=0.1).param_groups[0]["params"]) == 2  # a tuple is ordered: fine


def _adam_state() -> tuple[optim.Adam, dict]:
    a, b = tg.zeros(3, requires_grad=True), tg.zeros(2, requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    (a.sum() + b.sum()).backward()
    opt.step()
    return opt, opt.state_dict()


@pytest.mark.parametrize(
    "edit, error, message",
    [
        (lambda sd: sd["state"].update({"abc": sd["state"].pop(0)}), TypeError,
         r"keys of 'state' are parameter positions \(ints 0, 1, ...\); got str 'abc'"),
        (lambda sd: sd["state"].update({0.5: sd["state"].pop(0)}), TypeError, "got float 0.5"),
        (lambda sd: sd["state"].update({True: sd["state"].pop(1)}), TypeError, "got bool True"),
        (lambda sd: sd["state"].update({7: sd["state"][0]}), ValueError, "state for unknown parameter index 7"),
        (lambda sd: sd.update(state=[1, 2]), TypeError, "'state' must be a dict, got list"),
        (lambda sd: sd.update(param_groups=7), TypeError, "'param_groups' must be a list, got int"),
        (lambda sd: sd["param_groups"].append(5), ValueError,
         r"param_groups\[1\] must be a dict with a 'params' entry, got 5"),
        (lambda sd: sd["param_groups"][0].pop("params"), ValueError,
         r"param_groups\[0\] must be a dict with a 'params' entry"),
        (lambda sd: sd["param_groups"][0].update(params=3), TypeError,
         r"param_groups\[0\]\['params'\] must be a list of parameter positions, got int"),
        (lambda sd: sd["param_groups"][0].update(params=["a", "b"]), TypeError,
         r"param_groups\[0\]\['params'\] holds parameter positions \(ints\), got str 'a'"),
        (lambda sd: sd["state"][0].update(exp_avg=[0.0, 0.0, 0.0]), TypeError,
         r"state 'exp_avg' of parameter 0 is a builtins.list; saved states hold numpy arrays, numbers and None"),
        (lambda sd: sd["state"][1].update(step=tg.Tensor(1.0)), TypeError,
         r"state 'step' of parameter 1 is a tinygrad_cnn.Tensor"),
    ],
)
def test_load_state_dict_names_the_bad_key_and_changes_nothing(edit, error, message):
    opt, state = _adam_state()
    before = opt.state_dict()
    edit(state)
    with pytest.raises(error, match=r"Adam\.load_state_dict: .*" + message):
        opt.load_state_dict(state)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    assert all(np.array_equal(after["state"][i]["exp_avg"], before["state"][i]["exp_avg"]) for i in (0, 1))


def test_load_state_dict_accepts_positions_as_digits_and_numpy_ints():
    opt, state = _adam_state()
    state["state"] = {"0": state["state"][0], np.int64(1): state["state"][1]}
    fresh = optim.Adam([tg.zeros(3, requires_grad=True), tg.zeros(2, requires_grad=True)], lr=0.1)
    fresh.load_state_dict(state)
    assert [s["step"] for s in fresh.state.values()] == [1, 1]


def test_load_state_dict_refuses_torch_tensors_with_the_conversion():
    torch = pytest.importorskip("torch")
    opt, state = _adam_state()
    state["state"][0]["exp_avg"] = torch.zeros(3)
    message = r"state 'exp_avg' of parameter 0 is a torch.Tensor.*\.detach\(\)\.cpu\(\)\.numpy\(\)"
    with pytest.raises(TypeError, match=message):
        opt.load_state_dict(state)


def test_repr_lists_groups():
    text = repr(optim.SGD([_p()], lr=0.1, momentum=0.9))
    assert text.startswith("SGD (") and "lr: 0.1" in text and "momentum: 0.9" in text


# ---------------------------------------------------------------------------
# Learning-rate schedulers
# ---------------------------------------------------------------------------


def _lrs(scheduler, epochs):
    """The lr of each group at epochs 0, 1, ..., epochs - 1."""
    seen = []
    for _ in range(epochs):
        seen.append(scheduler.get_last_lr())
        scheduler.optimizer.step()
        scheduler.step()
    return seen


def test_step_lr_sequence():
    opt = optim.SGD([{"params": [_p()]}, {"params": [_p()], "lr": 1.0}], lr=0.1)
    sched = optim.StepLR(opt, step_size=3, gamma=0.5)
    seen = _lrs(sched, 8)
    for epoch, (lr_a, lr_b) in enumerate(seen):
        assert lr_a == pytest.approx(0.1 * 0.5 ** (epoch // 3), rel=1e-12)
        assert lr_b == pytest.approx(1.0 * 0.5 ** (epoch // 3), rel=1e-12)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**2)


def test_cosine_lr_sequence():
    opt = optim.SGD([_p()], lr=1.0)
    sched = optim.CosineAnnealingLR(opt, T_max=10, eta_min=0.1)
    seen = [lrs[0] for lrs in _lrs(sched, 11)]
    assert seen[0] == pytest.approx(1.0)
    assert seen[5] == pytest.approx(0.55)  # halfway: the mean of 1.0 and 0.1
    assert seen[10] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(seen[:-1], seen[1:], strict=True))  # decreasing over the half period
    for epoch, lr in enumerate(seen):
        assert lr == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi * epoch / 10)) / 2, rel=1e-12)


@pytest.mark.parametrize("which", ["step", "cosine"])
def test_schedulers_match_torch(which):
    torch = pytest.importorskip("torch")
    ours = optim.SGD([_p()], lr=0.3)
    theirs = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.3)
    if which == "step":
        mine = optim.StepLR(ours, step_size=4, gamma=0.3)
        reference = torch.optim.lr_scheduler.StepLR(theirs, step_size=4, gamma=0.3)
    else:
        mine = optim.CosineAnnealingLR(ours, T_max=7, eta_min=0.01)
        reference = torch.optim.lr_scheduler.CosineAnnealingLR(theirs, T_max=7, eta_min=0.01)
    for _ in range(20):  # past T_max too
        assert mine.get_last_lr() == pytest.approx(reference.get_last_lr(), rel=1e-9)
        ours.step()
        theirs.step()
        mine.step()
        reference.step()


def test_scheduler_state_dict_round_trip():
    opt = optim.SGD([_p()], lr=0.2)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6)
    for _ in range(3):
        sched.step()
    state = sched.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 3

    opt2 = optim.SGD([_p()], lr=0.2)
    sched2 = optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=6)
    sched2.load_state_dict(state)
    for _ in range(2):
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
        assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_scheduler_bad_arguments():
    opt = optim.SGD([_p()], lr=0.1)
    with pytest.raises(ValueError, match="StepLR: step_size must be a positive integer, got 0"):
        optim.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="StepLR: gamma must be positive"):
        optim.StepLR(opt, step_size=2, gamma=0)
    with pytest.raises(ValueError, match="CosineAnnealingLR: T_max must be a positive integer"):
        optim.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match="eta_min must be non-negative"):
        optim.CosineAnnealingLR(opt, T_max=3, eta_min=-1)
    with pytest.raises(TypeError, match="expected an Optimizer"):
        optim.StepLR([_p()], step_size=1)
    with pytest.raises(KeyError, match="initial_lr"):
        optim.StepLR(optim.SGD([_p()], lr=0.1), step_size=1, last_epoch=3)
