"""Grad mode, anomaly mode and the page's recorder are per thread, as in PyTorch:
what one thread switches on or off (no_grad, a backward pass, detect_anomaly,
record_backward) does not change what another thread's ops do."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

import tinygrad_cnn as tg
from tinygrad_cnn.function import Function
from tinygrad_cnn.viz import record_backward

TIMEOUT = 10


class _PausingIdentity(Function):
    """y = x, whose backward waits until the test lets it go on."""

    vjp_rule = "dL/dx = g"

    def forward(self, x, entered=None, release=None):
        return x.copy()

    def backward(self, g):
        self.settings["entered"].set()
        assert self.settings["release"].wait(TIMEOUT)
        return (g,)


def _in_thread(target: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def _finish(thread: threading.Thread, errors: list[BaseException]) -> None:
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


def test_no_grad_in_one_thread_does_not_stop_recording_in_another() -> None:
    inside, done = threading.Event(), threading.Event()

    def hold_no_grad() -> None:
        with tg.no_grad():
            assert not tg.is_grad_enabled()
            inside.set()
            assert done.wait(TIMEOUT)
            assert not tg.is_grad_enabled()  # the other thread did not switch it back on

    thread, errors = _in_thread(hold_no_grad)
    assert inside.wait(TIMEOUT)
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    assert tg.is_grad_enabled() and y.requires_grad and y.grad_fn is not None
    done.set()
    _finish(thread, errors)
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])


def test_a_new_thread_records_while_the_main_thread_is_in_no_grad() -> None:
    seen = []
    with tg.no_grad():
        thread, errors = _in_thread(lambda: seen.append((tg.is_grad_enabled(),
                                                         (tg.Tensor(1.0, requires_grad=True) * 2).requires_grad)))
        _finish(thread, errors)
        assert not tg.is_grad_enabled()
    assert seen == [(True, True)]


def test_forward_in_one_thread_is_recorded_while_another_runs_backward() -> None:
    entered, release = threading.Event(), threading.Event()
    a = tg.Tensor(np.array([3.0]), requires_grad=True)
    paused = _PausingIdentity.apply(a, entered=entered, release=release)
    thread, errors = _in_thread(lambda: (paused * 2).sum().backward())
    assert entered.wait(TIMEOUT)  # the other thread is inside backward now (grad mode off there)
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * 3).sum()
    assert y.requires_grad, "the forward pass of this thread was not recorded"
    release.set()
    _finish(thread, errors)
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])
    np.testing.assert_array_equal(a.grad.data, [2.0])


def test_a_page_recorded_in_one_thread_while_another_runs_backward() -> None:
    entered, release = threading.Event(), threading.Event()
    x = tg.Tensor(np.array([1.0, -2.0]), requires_grad=True, name="x")
    recorded_root = (_PausingIdentity.apply(x, entered=entered, release=release) * 5).sum()
    tapes = []
    thread, errors = _in_thread(lambda: tapes.append(record_backward(recorded_root)))
    assert entered.wait(TIMEOUT)  # the recorder is on, in the other thread
    other = tg.Tensor(np.array([4.0]), requires_grad=True)
    (other * other).sum().backward()  # must not be recorded into the other thread's tape
    np.testing.assert_array_equal(other.grad.data, [8.0])
    release.set()
    _finish(thread, errors)
    (tape,) = tapes
    recorded = {id(node.tensor) for node in tape.nodes.values()}
    assert id(other) not in recorded and id(x) in recorded
    np.testing.assert_array_equal(x.grad.data, [5.0, 5.0])
    assert len(tape.visits) == 4  # sum, mul, the pausing identity, x


def test_anomaly_mode_is_per_thread() -> None:
    inside, leave = threading.Event(), threading.Event()
    traced = []

    def in_anomaly_mode() -> None:
        with tg.detect_anomaly():
            y = tg.Tensor(1.0, requires_grad=True) * 2
            traced.append(hasattr(y.grad_fn, "forward_trace"))
            inside.set()
            assert leave.wait(TIMEOUT)
            assert tg.is_anomaly_enabled()  # not switched off by the other thread

    thread, errors = _in_thread(in_anomaly_mode)
    assert inside.wait(TIMEOUT)
    assert not tg.is_anomaly_enabled()
    z = tg.Tensor(1.0, requires_grad=True) * 2
    assert not hasattr(z.grad_fn, "forward_trace")  # this thread pays nothing for the other's mode
    with tg.detect_anomaly():
        pass  # entering and leaving here must not end the other thread's mode
    leave.set()
    _finish(thread, errors)
    assert traced == [True]
