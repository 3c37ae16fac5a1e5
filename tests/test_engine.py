"""Tests of the engine: Tensor, constructors, recording (no_grad), backward,
accumulation, retain_graph and release, create_graph, tg.grad and memory."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import numpy as np
import pytest

import tinygrad_cnn as tg

# ---------------------------------------------------------------------------
# Tensor: dtype rules and properties
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("data, dtype", [
    (1.5, np.float32), ([1.0, 2.0], np.float32), ([[1.0], [2.5]], np.float32), ([1, 2.5], np.float32),
    (3, np.int64), ([1, 2, 3], np.int64), (True, np.bool_),
    (np.zeros(2), np.float64), (np.zeros(2, np.float16), np.float16), (np.arange(3, dtype=np.int32), np.int32),
    (np.zeros(2, np.uint8), np.uint8),
])
def test_tensor_dtype_rules(data: object, dtype: type) -> None:
    assert tg.Tensor(data).dtype == dtype


def test_tensor_dtype_argument_converts() -> None:
    t = tg.Tensor([1, 2], dtype=np.float64)
    assert t.dtype == np.float64
    np.testing.assert_array_equal(t.data, [1.0, 2.0])


def test_numpy_arrays_are_not_copied() -> None:
    a = np.arange(4.0)
    t = tg.Tensor(a)
    assert t.data is a and t.numpy() is a


@pytest.mark.parametrize("data", [3, [1, 2], np.arange(3), True])
def test_integer_data_cannot_require_grad(data: object) -> None:
    with pytest.raises(TypeError, match="requires_grad"):
        tg.Tensor(data, requires_grad=True)


@pytest.mark.parametrize("data", ["abc", [object()], {1: 2}])
def test_unsupported_data_is_a_type_error(data: object) -> None:
    with pytest.raises(TypeError, match="Tensor"):
        tg.Tensor(data)


def test_tensor_properties() -> None:
    t = tg.Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True, name="w")
    assert isinstance(t.data, np.ndarray)
    assert t.shape == (2, 3) and t.ndim == 2 and t.dtype == np.float32 and t.numel() == 6
    assert t.requires_grad and t.grad is None and t.name == "w" and t.is_leaf and t.grad_fn is None
    assert len(t) == 2


def test_item() -> None:
    value = tg.Tensor([[2.5]]).item()
    assert value == 2.5 and isinstance(value, float)
    assert isinstance(tg.Tensor(7).item(), int)
    with pytest.raises(ValueError, match=r"item.*\(2,\)"):
        tg.Tensor([1.0, 2.0]).item()


def test_detach_shares_data_and_leaves_the_graph() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    d = y.detach()
    assert np.shares_memory(d.data, y.data)
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    (d * x).sum().backward()  # d is a constant here
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


def test_repr_shows_values_shape_dtype_and_grad_fn() -> None:
    leaf = tg.Tensor([1.5, -2.0], requires_grad=True, name="w")
    text = repr(leaf)
    assert "1.5" in text and "-2." in text and "shape=(2,)" in text and "dtype=float32" in text
    assert "requires_grad=True" in text and "'w'" in text
    result = repr(leaf * 3.0)
    assert "4.5" in result and "grad_fn=Mul" in result
    assert "grad_fn" not in repr(tg.Tensor(2))


def test_op_results_hold_ndarrays_even_when_zero_dimensional() -> None:
    # `.data` is documented as an ndarray; numpy returns scalars (np.float64)
    # from reductions and ufuncs on 0-d arrays, which have no in-place assignment.
    x = tg.Tensor(np.arange(3.0), requires_grad=True)
    for out in (x.sum(), x.max(), x[0], x.sum().exp()):
        assert isinstance(out.data, np.ndarray), type(out.data)


# ---------------------------------------------------------------------------
# Constructors and seeding
# ---------------------------------------------------------------------------


def test_zeros_ones_full_eye_arange() -> None:
    assert tg.zeros(2, 3).shape == (2, 3) and tg.zeros((2, 3)).shape == (2, 3)
    assert tg.zeros(2).dtype == np.float32 and not tg.zeros(2).data.any()
    assert (tg.ones(3, 1).data == 1).all() and tg.ones(3, 1).shape == (3, 1)
    full = tg.full((2, 2), 7.0)
    assert full.dtype == np.float32 and (full.data == 7).all()
    np.testing.assert_array_equal(tg.eye(3).data, np.eye(3))
    assert tg.eye(2, 3).shape == (2, 3)
    np.testing.assert_array_equal(tg.arange(4).data, [0, 1, 2, 3])
    assert tg.arange(4).dtype == np.int64
    ramp = tg.arange(0.0, 1.0, 0.25)
    assert ramp.dtype == np.float32
    np.testing.assert_array_equal(ramp.data, [0.0, 0.25, 0.5, 0.75])
    assert tg.zeros(2, dtype=np.float64).dtype == np.float64
    assert tg.ones(2, requires_grad=True).requires_grad
    assert tg.zeros(0, 3).shape == (0, 3)


def test_random_constructors() -> None:
    r = tg.rand(1000)
    assert r.dtype == np.float32 and r.shape == (1000,) and r.data.min() >= 0 and r.data.max() < 1
    n = tg.randn(4000)
    assert abs(float(n.data.mean())) < 0.1 and 0.9 < float(n.data.std()) < 1.1
    u = tg.uniform(500, low=-3.0, high=-1.0)
    assert u.data.min() >= -3 and u.data.max() < -1
    assert tg.randn(2, 3, dtype=np.float64, requires_grad=True).requires_grad
    assert tg.rand((2, 3)).shape == (2, 3)


def test_constructor_errors() -> None:
    with pytest.raises(ValueError, match="shape"):
        tg.zeros(-1)
    with pytest.raises(ValueError, match="uniform: low"):
        tg.uniform(3, low=1.0, high=0.0)


def test_manual_seed_reproduces_draws() -> None:
    tg.manual_seed(42)
    first = [tg.randn(5).data, tg.rand(3).data, tg.uniform(2, low=-1, high=1).data]
    tg.manual_seed(42)
    second = [tg.randn(5).data, tg.rand(3).data, tg.uniform(2, low=-1, high=1).data]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    tg.manual_seed(43)
    assert not np.array_equal(tg.randn(5).data, first[0])
    tg.manual_seed(42)
    assert tg.get_rng().standard_normal() == np.random.default_rng(42).standard_normal()


# ---------------------------------------------------------------------------
# Recording on and off
# ---------------------------------------------------------------------------


def test_nothing_recorded_when_no_input_requires_grad() -> None:
    a, b = tg.randn(3), tg.randn(3)
    out = (a * b + 1.0).exp().sum()
    assert not out.requires_grad and out.grad_fn is None and out.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        out.backward()


def test_recorded_when_any_input_requires_grad() -> None:
    a, b = tg.randn(3, requires_grad=True), tg.randn(3)
    out = a * b
    assert out.requires_grad and out.grad_fn is not None and not out.is_leaf
    assert out.grad_fn.parents[0] is a and out.grad_fn.needs_grad == (True, False)


def test_no_grad_context_records_nothing_and_restores() -> None:
    x = tg.randn(3, requires_grad=True)
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = x * 2.0
        with tg.enable_grad():
            z = x * 3.0
    assert tg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None


def test_no_grad_is_restored_after_an_exception() -> None:
    with pytest.raises(ZeroDivisionError), tg.no_grad():
        1 / 0  # noqa: B018
    assert tg.is_grad_enabled()


def test_no_grad_as_a_decorator() -> None:
    @tg.no_grad()
    def step(x: tg.Tensor) -> tg.Tensor:
        assert not tg.is_grad_enabled()
        return x * 2.0

    x = tg.randn(3, requires_grad=True)
    y = step(x)
    assert not y.requires_grad and y.grad_fn is None
    assert tg.is_grad_enabled()
    assert step(x).shape == (3,)  # the decorator can be used more than once


# ---------------------------------------------------------------------------
# backward: chain rule, accumulation, shapes
# ---------------------------------------------------------------------------


def test_chain_rule_worked_example() -> None:
    # f = (x + y) * z at x = -2, y = 5, z = -4 (the example in docs/autograd.md).
    x = tg.Tensor(-2.0, requires_grad=True)
    y = tg.Tensor(5.0, requires_grad=True)
    z = tg.Tensor(-4.0, requires_grad=True)
    q = x + y
    q.retain_grad()
    f = q * z
    assert q.item() == 3.0 and f.item() == -12.0
    f.backward()
    assert q.grad.item() == -4.0 and z.grad.item() == 3.0
    assert x.grad.item() == -4.0 and y.grad.item() == -4.0


def test_non_scalar_backward_needs_a_gradient() -> None:
    x = tg.randn(2, 3, requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match=r"gradient must be given.*\(2, 3\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\).*\(2, 3\)"):
        y.backward(np.ones(3))
    y.backward(np.full((2, 3), 0.5))
    np.testing.assert_array_equal(x.grad.data, np.ones((2, 3)))
    assert x.grad.dtype == np.float32


def test_backward_on_a_leaf() -> None:
    x = tg.Tensor(3.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


def test_gradients_accumulate_across_calls_and_none_clears() -> None:
    x = tg.Tensor([1.0, -2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    first = x.grad
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, -8.0])
    np.testing.assert_array_equal(first.data, [2.0, -4.0])  # the earlier .grad was not changed in place
    (x * 3.0).sum().backward()  # a new graph adds to the same .grad
    np.testing.assert_array_equal(x.grad.data, [7.0, -5.0])
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])


def test_diamond_sums_both_paths() -> None:
    a = tg.Tensor(3.0, requires_grad=True)
    b = a + a
    c = b * b  # c = 4 a^2, dc/da = 8 a
    c.backward()
    assert a.grad.item() == 24.0


def test_shared_node_used_many_times() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    out = (h * h + h * 3.0 + h).sum()  # h is used four times
    out.backward()
    np.testing.assert_allclose(x.grad.data, 2 * np.exp(2 * x.data) + 4 * np.exp(x.data), rtol=1e-6)


def test_leaves_sharing_one_gradient_get_separate_copies() -> None:
    a, b = tg.randn(3, requires_grad=True), tg.randn(3, requires_grad=True)
    (a + b).sum().backward()
    assert not np.shares_memory(a.grad.data, b.grad.data)


def test_broadcast_gradients_are_summed_back_to_each_shape() -> None:
    a = tg.Tensor(np.arange(3.0), requires_grad=True)           # (3,)
    b = tg.Tensor(np.ones((2, 4, 3)), requires_grad=True)       # (2, 4, 3)
    c = tg.Tensor(2.0, dtype=np.float64, requires_grad=True)    # ()
    d = tg.Tensor(np.ones((4, 1)), requires_grad=True)          # (4, 1)
    (a * b * c + d).sum().backward()
    assert a.grad.shape == (3,) and b.grad.shape == (2, 4, 3) and c.grad.shape == () and d.grad.shape == (4, 1)
    np.testing.assert_array_equal(a.grad.data, [16.0, 16.0, 16.0])
    assert c.grad.item() == 8 * 3.0
    np.testing.assert_array_equal(d.grad.data, np.full((4, 1), 6.0))
    np.testing.assert_array_equal(b.grad.data, np.broadcast_to(a.data * 2.0, (2, 4, 3)))


def test_grad_is_plain_unless_create_graph() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.grad_fn is None and not x.grad.requires_grad


def test_retain_grad_on_an_intermediate() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    h = x * 3.0
    h.retain_grad()
    w = x * 5.0  # an intermediate without retain_grad keeps no .grad
    (h * h + w).sum().backward()
    np.testing.assert_array_equal(h.grad.data, 2 * h.data)
    assert w.grad is None


def test_long_chain_backward_has_no_recursion_error() -> None:
    # 100,000 ops: a recursive topological sort would overflow Python's stack.
    x = tg.Tensor(1.0, dtype=np.float64, requires_grad=True)
    y = x
    for _ in range(50_000):
        y = y * 1.00001
        y = y + 0.5
    y.backward()
    assert np.isclose(x.grad.item(), 1.00001**50_000, rtol=1e-9)


def test_dropping_a_long_unused_chain_is_safe() -> None:
    x = tg.Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    del y  # freeing 100,000 linked nodes must not overflow the C stack
    gc.collect()
    assert x.grad is None


# ---------------------------------------------------------------------------
# retain_graph and release of saved values
# ---------------------------------------------------------------------------


def test_second_backward_without_retain_graph_raises() -> None:
    x = tg.randn(3, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward() -> None:
    x = tg.Tensor([0.5, 1.0], dtype=np.float64, requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * (np.exp(x.data) * (1 + x.data)))


class _SavesAnArray(tg.Function):
    """3x, stashing an array on self the way ops with saved state do."""

    def forward(self, x):
        self.saved = np.full_like(x, 3.0)
        return x * 3.0

    def backward(self, g):
        return (g * tg.Tensor(self.saved),)


@pytest.mark.parametrize("retain", [False, True])
def test_saved_arrays_released_after_backward_unless_retained(retain: bool) -> None:
    x = tg.randn(4, requires_grad=True)
    y = _SavesAnArray.apply(x)
    saved = weakref.ref(y.grad_fn.saved)
    y.sum().backward(retain_graph=retain)
    np.testing.assert_array_equal(x.grad.data, np.full(4, 3.0))
    assert (saved() is not None) == retain
    assert y.grad_fn.released != retain


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Turn the cycle collector off: what is freed then was freed by refcounting."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.usefixtures("no_gc")
def test_intermediates_freed_after_backward_when_only_loss_is_kept() -> None:
    x = tg.Tensor(np.ones(100_000), requires_grad=True)
    hidden = (x * 2.0).tanh()  # a large intermediate
    hidden_ref, data_ref = weakref.ref(hidden), weakref.ref(hidden.data)
    loss = (hidden * hidden).sum()
    del hidden
    assert hidden_ref() is not None  # the graph keeps it for backward
    loss.backward()
    assert hidden_ref() is None and data_ref() is None
    assert loss.grad_fn is not None  # the structure (names, shapes) is kept for drawing
    assert x.grad.shape == x.shape


@pytest.mark.usefixtures("no_gc")
def test_retained_graph_is_freed_with_the_loss() -> None:
    x = tg.Tensor(np.ones(1000), requires_grad=True)
    hidden = x.exp()
    data_ref = weakref.ref(hidden.data)
    loss = hidden.sum()
    del hidden
    loss.backward(retain_graph=True)
    assert data_ref() is not None
    del loss  # no reference cycles: refcounting alone frees the graph
    assert data_ref() is None


# ---------------------------------------------------------------------------
# Higher-order gradients and tg.grad
# ---------------------------------------------------------------------------


def test_second_and_third_derivative_of_a_cube() -> None:
    x = tg.Tensor([-1.5, 0.5, 2.0], dtype=np.float64, requires_grad=True)
    y = (x**3).sum()
    (g,) = tg.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.data, 3 * x.data**2)
    (g2,) = tg.grad(g.sum(), x, create_graph=True)
    np.testing.assert_allclose(g2.data, 6 * x.data)
    (g3,) = tg.grad(g2.sum(), x)
    np.testing.assert_allclose(g3.data, [6.0, 6.0, 6.0])


def test_backward_create_graph_gives_differentiable_grad() -> None:
    x = tg.Tensor(2.0, dtype=np.float64, requires_grad=True)
    (x**3).backward(create_graph=True)
    first = x.grad
    assert first.requires_grad and first.item() == 12.0
    x.grad = None
    first.backward()
    assert x.grad.item() == 12.0  # d2/dx2 x^3 = 6x at x = 2


def _mlp_loss(params: list[tg.Tensor], inputs: tg.Tensor, targets: tg.Tensor) -> tg.Tensor:
    w1, b1, w2 = params
    hidden = (inputs @ w1 + b1).tanh()
    return ((hidden @ w2 - targets) ** 2).mean()


def test_hessian_vector_product_of_small_mlp_matches_finite_differences(rng: np.random.Generator) -> None:
    inputs = tg.Tensor(rng.standard_normal((5, 3)))
    targets = tg.Tensor(rng.standard_normal((5, 1)))
    values = [rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((4, 1))]
    direction = [rng.standard_normal(v.shape) for v in values]

    def gradient_at(arrays: list[np.ndarray]) -> list[np.ndarray]:
        params = [tg.Tensor(a, requires_grad=True) for a in arrays]
        return [g.data for g in tg.grad(_mlp_loss(params, inputs, targets), params)]

    # H v by double backward: the gradient of <grad L, v>.
    params = [tg.Tensor(a, requires_grad=True) for a in values]
    grads = tg.grad(_mlp_loss(params, inputs, targets), params, create_graph=True)
    projection = sum((g * tg.Tensor(v)).sum() for g, v in zip(grads, direction, strict=True))
    hvp = [h.data for h in tg.grad(projection, params)]

    # H v by central differences of the gradient along v.
    eps = 1e-6
    plus = gradient_at([a + eps * v for a, v in zip(values, direction, strict=True)])
    minus = gradient_at([a - eps * v for a, v in zip(values, direction, strict=True)])
    for h, p, m in zip(hvp, plus, minus, strict=True):
        np.testing.assert_allclose(h, (p - m) / (2 * eps), rtol=1e-5, atol=1e-7)
    assert all(p.grad is None for p in params)


def test_grad_returns_a_tuple_and_leaves_dot_grad_alone() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    w = tg.Tensor([3.0, 4.0], requires_grad=True)
    unused = tg.Tensor([0.0], requires_grad=True)
    result = tg.grad((x * w).sum(), [x, w, unused], allow_unused=True)
    assert isinstance(result, tuple) and len(result) == 3
    np.testing.assert_array_equal(result[0].data, [3.0, 4.0])
    np.testing.assert_array_equal(result[1].data, [1.0, 2.0])
    assert result[2] is None
    assert x.grad is None and w.grad is None


def test_grad_with_grad_outputs_and_several_outputs() -> None:
    x = tg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2.0
    z = x * x
    (g,) = tg.grad([y, z], x, grad_outputs=[np.array([1.0, 0.0, 1.0]), np.array([1.0, 1.0, 0.0])])
    np.testing.assert_array_equal(g.data, [2 + 2.0, 4.0, 2.0])
    with pytest.raises(ValueError, match="grad_outputs"):
        tg.grad([x * 1.0, x * 2.0], x, grad_outputs=[np.ones(3)])


def test_grad_with_respect_to_an_intermediate() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    h = x * 3.0
    (gh,) = tg.grad((h * h).sum(), h)
    np.testing.assert_array_equal(gh.data, 2 * h.data)


def test_grad_retain_graph() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    tg.grad(y, x, retain_graph=True)
    (again,) = tg.grad(y, x)
    np.testing.assert_array_equal(again.data, [2.0, 4.0])
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        tg.grad(y, x)


def test_grad_input_errors() -> None:
    x = tg.Tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"inputs\[0\].*does not require grad"):
        tg.grad((x * 2.0).sum(), tg.Tensor([1.0]))
    with pytest.raises(TypeError, match=r"inputs\[0\]"):
        tg.grad((x * 2.0).sum(), [np.ones(1)])


# ---------------------------------------------------------------------------
# User-defined Functions
# ---------------------------------------------------------------------------


class _ScaledCube(tg.Function):
    """scale * x^3 for a constant `scale` setting: an example custom op."""

    def forward(self, x, scale=1.0):
        return scale * x**3

    def backward(self, g):
        (x,) = self.parents
        return (g * self.settings["scale"] * 3.0 * x * x,)


class _WeightedSum(tg.Function):
    """a * b summed; it returns None for inputs that need no gradient."""

    uses_output = True  # not needed by its VJP: the test reads self.output

    def forward(self, a, b):
        return np.sum(a * b)

    def backward(self, g):
        a, b = self.parents
        ga = g * b if self.needs_grad[0] else None
        gb = g * a if self.needs_grad[1] else None
        return ga, gb


def test_custom_function_first_and_second_order() -> None:
    x = tg.Tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
    assert tg.gradcheck(lambda t: _ScaledCube.apply(t, scale=2.5), [x])
    assert tg.gradgradcheck(lambda t: _ScaledCube.apply(t, scale=2.5), [x])
    assert _ScaledCube.apply(x, scale=2.0).grad_fn.settings == {"scale": 2.0}


def test_custom_function_needs_grad() -> None:
    a = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = tg.Tensor(np.array([3.0, 4.0]))
    out = _WeightedSum.apply(a, b)
    assert out.grad_fn.needs_grad == (True, False)
    assert out.grad_fn.output is out
    out.backward()
    np.testing.assert_array_equal(a.grad.data, b.data)
    assert b.grad is None
    # A Function that does not ask for its output cannot read it.
    cube = _ScaledCube.apply(a, scale=1.0).grad_fn
    with pytest.raises(AttributeError, match="uses_output"):
        _ = cube.output


def test_backward_leaves_the_cycle_collector_as_it_found_it() -> None:
    """backward pauses Python's cycle collector while it runs, and only then."""
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    assert gc.isenabled()
    y = (x * 3.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()  # an error inside backward: the collector is on again
    assert gc.isenabled()
    gc.disable()
    try:
        (x * x).sum().backward()
        assert not gc.isenabled()  # a user who turned it off keeps it off
    finally:
        gc.enable()


# ---------------------------------------------------------------------------
# Custom Functions that return bad gradients
# ---------------------------------------------------------------------------


class _TooFewGradients(tg.Function):
    """a * b whose backward forgets the second gradient."""

    def forward(self, a, b):
        return a * b

    def backward(self, g):
        a, b = self.parents
        return (g * b,)


class _TooManyGradients(tg.Function):
    def forward(self, x):
        return 2 * x

    def backward(self, g):
        return g * 2.0, g


class _WrongShapeGradient(tg.Function):
    def forward(self, x):
        return 2 * x

    def backward(self, g):
        return (tg.Tensor(np.ones(5)),)


class _BroadcastGradient(tg.Function):
    """Its gradient has an extra leading axis: the engine sums it away (allowed)."""

    def forward(self, x):
        return 2 * x

    def backward(self, g):
        return (tg.Tensor(np.ones((2,) + self.parents[0].shape)),)


class _ArrayGradient(tg.Function):
    def forward(self, x):
        return 2 * x

    def backward(self, g):
        return (np.ones(self.parents[0].shape),)


class _LoneTensorGradient(tg.Function):
    def forward(self, x):
        return 2 * x

    def backward(self, g):
        return g * 2.0  # not wrapped in a tuple: accepted for a one-input Function


def test_custom_function_with_too_few_gradients_raises() -> None:
    a = tg.Tensor(np.ones((2, 3)), requires_grad=True)
    b = tg.Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"_TooFewGradients.backward returned 1 gradients, but _TooFewGradients "
                                           r"has 2 inputs \(shapes \(2, 3\), \(2, 3\)\)"):
        _TooFewGradients.apply(a, b).sum().backward()


def test_custom_function_with_too_many_gradients_raises() -> None:
    x = tg.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="_TooManyGradients.backward returned 2 gradients, but .* has 1 inputs"):
        _TooManyGradients.apply(x).sum().backward()


def test_custom_function_with_a_wrongly_shaped_gradient_raises() -> None:
    x = tg.Tensor(np.ones((3, 4)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"_WrongShapeGradient.backward returned an invalid gradient for input 0 "
                                           r"\(shape \(3, 4\)\): it is of shape \(5,\)"):
        _WrongShapeGradient.apply(x).sum().backward()


def test_custom_function_with_a_broadcast_gradient_is_summed() -> None:
    x = tg.Tensor(np.ones((3, 4)), requires_grad=True)
    _BroadcastGradient.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full((3, 4), 2.0))


def test_custom_function_returning_an_array_raises() -> None:
    x = tg.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="_ArrayGradient.backward returned an invalid gradient for input 0 "
                                           r"\(shape \(3,\)\): it is a ndarray, not a Tensor"):
        _ArrayGradient.apply(x).sum().backward()


def test_custom_function_returning_a_lone_tensor_for_one_input() -> None:
    x = tg.Tensor(np.ones((2, 3)), requires_grad=True)
    _LoneTensorGradient.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full((2, 3), 2.0))


def test_custom_function_that_reads_inputs_is_version_checked_by_default() -> None:
    x = tg.Tensor(np.ones(3), requires_grad=True)
    out = _ScaledCube.apply(x, scale=1.0).sum()
    with tg.no_grad():
        x.mul_(2.0)
    with pytest.raises(RuntimeError, match="gradient of _ScaledCube needs was changed by an in-place operation"):
        out.backward()


# ---------------------------------------------------------------------------
# tg.grad: outputs without a graph, unused inputs
# ---------------------------------------------------------------------------


def test_grad_of_a_gradient_computed_without_create_graph_raises() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    (g,) = tg.grad((x * x * x).sum(), x)  # no create_graph: g has no graph
    assert not g.requires_grad
    with pytest.raises(RuntimeError, match="element 0 of outputs does not require grad and has no grad_fn.*"
                                           "create_graph=True"):
        tg.grad(g.sum(), x)
    (g,) = tg.grad((x * x * x).sum(), x, create_graph=True)
    (h,) = tg.grad(g.sum(), x)
    np.testing.assert_allclose(h.data, 6 * x.data)


def test_grad_names_the_output_that_has_no_graph() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="element 1 of outputs does not require grad"):
        tg.grad([x.sum(), tg.Tensor(3.0)], x)


def test_grad_of_an_unused_input_raises_unless_allow_unused() -> None:
    x = tg.Tensor([1.0, 2.0], requires_grad=True)
    unused = tg.Tensor([5.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"inputs\[1\] \(shape \(1,\)\) was not used.*allow_unused=True"):
        tg.grad((x * x).sum(), [x, unused])
    gx, gu = tg.grad((x * x).sum(), [x, unused], allow_unused=True)
    np.testing.assert_array_equal(gx.data, [2.0, 4.0])
    assert gu is None
