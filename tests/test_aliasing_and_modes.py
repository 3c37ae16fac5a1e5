"""Arrays shared where they must not be, and modes that must switch back: each
case here once gave a silently wrong or surprising result."""

import copy
import pickle
import threading
import warnings

import numpy as np

import tinygrad_cnn as tg
from tinygrad_cnn import Tensor, optim
from tinygrad_cnn.float_errors import IGNORE_ALL, error_state, quiet_region, quietly


def test_create_graph_gives_each_leaf_its_own_writable_gradient():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    g = Tensor([1.0, 1.0])
    (a + b).backward(g, create_graph=True)
    assert a.grad is not b.grad and a.grad is not g
    with tg.no_grad():
        a.grad.mul_(0.0)
    assert b.grad.tolist() == [1.0, 1.0] and g.tolist() == [1.0, 1.0]
    x = Tensor(np.ones(3), requires_grad=True)
    x.sum().backward(create_graph=True)  # sum's gradient is a broadcast view of one number
    optim.SGD([x], lr=0.1).zero_grad(set_to_none=False)
    assert x.grad.tolist() == [0.0, 0.0, 0.0]


def test_create_graph_still_keeps_the_graph_of_a_gradient():
    x = Tensor(3.0, requires_grad=True)
    (x**3).backward(create_graph=True)  # x.grad = 3x^2, recorded
    assert x.grad.item() == 27.0
    (second,) = tg.grad(x.grad, x)
    assert second.item() == 18.0  # 6x


def test_changing_a_where_mask_or_an_index_afterwards_does_not_move_the_gradient():
    a = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    mask = Tensor(np.array([True, False, True]))
    y = tg.where(mask, a, 0.0)
    mask.fill_(False)
    y.sum().backward()
    assert a.grad.tolist() == [1.0, 0.0, 1.0]
    a.grad = None
    index = np.array([0, 0, 1])
    y = a[index]
    index[:] = 2
    y.sum().backward()
    assert a.grad.tolist() == [2.0, 1.0, 0.0]


def test_a_tensor_made_from_a_tensor_is_a_copy():
    p = Tensor([1.0, 2.0], requires_grad=True)
    z = (p * p).sum()
    q = Tensor(p)
    with tg.no_grad():
        q.mul_(10.0)
    z.backward()
    assert p.tolist() == [1.0, 2.0] and p.grad.tolist() == [2.0, 4.0]


def test_np_array_of_a_tensor_is_a_copy_and_np_asarray_is_not():
    t = Tensor(np.zeros(3, np.float32))
    copied = np.array(t)
    copied[0] = 99.0
    assert t.tolist() == [0.0, 0.0, 0.0]
    assert np.asarray(t) is t.data


def test_view_tensors_can_be_deep_copied_and_pickled():
    p = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    for view in (p.detach(), p.detach()[0], p.detach().T):
        for clone in (copy.deepcopy(view), pickle.loads(pickle.dumps(view))):
            assert np.array_equal(clone.data, view.data)


def test_decorators_switch_back_after_a_function_that_calls_itself():
    @tg.no_grad()
    def without_grad(n: int) -> None:
        if n:
            without_grad(n - 1)

    @tg.detect_anomaly()
    def with_anomaly(n: int) -> None:
        if n:
            with_anomaly(n - 1)

    without_grad(3)
    with_anomaly(3)
    assert tg.is_grad_enabled() and not tg.is_anomaly_enabled()


def test_numpy_integer_scalars_keep_a_float32_tensor_float32():
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    for result in (x / np.prod(x.shape), x * np.int64(3), x ** np.int64(2), x + np.float32(0.5)):
        assert result.dtype == np.float32


def test_warnings_stay_off_in_library_ops_after_two_threads_overlap():
    entered, release = threading.Event(), threading.Event()

    @quietly
    def waits_inside_a_quiet_op() -> None:
        entered.set()
        release.wait(5)

    thread = threading.Thread(target=waits_inside_a_quiet_op)
    thread.start()
    assert entered.wait(5)
    region = quiet_region()
    region.__enter__()  # a backward pass starting in this thread meanwhile
    release.set()
    thread.join(5)
    region.__exit__(None, None, None)
    assert error_state() is not IGNORE_ALL
    big = Tensor(np.array([1e30], np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isinf((big * big).item())
