"""Anomaly mode: detect_anomaly() names the op whose VJP first produced nan or
inf, and shows where the user's code recorded it."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_cnn as tg


def _sqrt_at_zero() -> tuple[tg.Tensor, tg.Tensor]:
    # d sqrt(x)/dx = 0.5 / sqrt(x) is inf at x = 0; the forward is finite.
    x = tg.Tensor([0.0, 4.0], requires_grad=True)
    y = (x.sqrt() * 3.0).sum()  # the line the traceback must point at
    return x, y


def test_backward_without_anomaly_mode_gives_inf_silently() -> None:
    x, y = _sqrt_at_zero()
    y.backward()
    assert np.isinf(x.grad.data[0])


def test_anomaly_mode_names_the_op_the_input_and_the_forward_line() -> None:
    with tg.detect_anomaly():
        x, y = _sqrt_at_zero()
        with pytest.raises(RuntimeError) as error:
            y.backward()
    message = str(error.value)
    assert "detect_anomaly: the backward of Pow returned inf values in the gradient of its input 0 (shape (2,))" \
        in message
    assert "Pow was recorded in the forward pass here" in message
    assert "test_anomaly.py" in message and "y = (x.sqrt() * 3.0).sum()" in message
    # Library frames are left out of the recorded traceback.
    assert "tinygrad_cnn/ops/" not in message and "tinygrad_cnn/backward.py" not in message


def test_anomaly_mode_reports_nan() -> None:
    with tg.detect_anomaly():
        x = tg.Tensor([-1.0, 2.0], requires_grad=True)
        y = x.log()  # nan at -1 in forward already; its VJP 1/x is finite
        z = (y * 0.0 + y.abs()).sum()  # abs's VJP: sign(nan) = nan
        expected = r"the backward of Abs returned nan values in the gradient of its input 0 \(shape \(2,\)\)"
        with pytest.raises(RuntimeError, match=expected):
            z.backward()


def test_anomaly_mode_as_a_decorator_and_restores_the_previous_state() -> None:
    @tg.detect_anomaly()
    def step() -> None:
        assert tg.is_anomaly_enabled()
        _, y = _sqrt_at_zero()
        y.backward()

    assert not tg.is_anomaly_enabled()
    with pytest.raises(RuntimeError, match="returned inf values"):
        step()
    assert not tg.is_anomaly_enabled()
    assert tg.detect_anomaly is tg.anomaly.detect_anomaly


def test_anomaly_mode_passes_a_finite_backward_unchanged() -> None:
    x = tg.Tensor(np.array([1.0, 4.0]), requires_grad=True)
    with tg.detect_anomaly():
        (x.sqrt() * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 1.5 * np.sqrt(x.data))


def test_no_trace_is_recorded_when_off() -> None:
    x = tg.Tensor([1.0], requires_grad=True)
    y = x * x
    assert not hasattr(y.grad_fn, "forward_trace")
    with tg.detect_anomaly():
        z = x * x
    assert any("test_anomaly.py" in frame.filename for frame in z.grad_fn.forward_trace)


def test_in_place_error_shows_the_forward_line_in_anomaly_mode() -> None:
    with tg.detect_anomaly():
        w = tg.Tensor([1.0, 2.0], requires_grad=True)
        loss = (w * w).sum()  # recorded here
        with tg.no_grad():
            w.mul_(2.0)
        with pytest.raises(RuntimeError, match=r"(?s)changed by an in-place operation.*Mul was recorded.*"
                                               r"loss = \(w \* w\).sum\(\)"):
            loss.backward()


class _BrokenBackward(tg.Function):
    def forward(self, x):
        return 2 * x

    def backward(self, g):
        raise ValueError("a bug in this backward")


@pytest.mark.skipif(not hasattr(Exception, "add_note"), reason="exception notes need Python 3.11")
def test_an_error_inside_a_vjp_gets_the_forward_line_as_a_note() -> None:
    x = tg.Tensor([1.0], requires_grad=True)
    with tg.detect_anomaly():
        y = _BrokenBackward.apply(x).sum()  # recorded here
        with pytest.raises(ValueError, match="a bug in this backward") as error:
            y.backward()
    notes = "\n".join(error.value.__notes__)
    assert "the error came from the backward of _BrokenBackward" in notes
    assert "y = _BrokenBackward.apply(x).sum()" in notes


def test_a_bad_custom_gradient_shows_the_forward_line_in_anomaly_mode() -> None:
    class _TooFew(tg.Function):
        def forward(self, a, b):
            return a * b

        def backward(self, g):
            return (g,)

    a = tg.Tensor([1.0], requires_grad=True)
    with tg.detect_anomaly():
        out = _TooFew.apply(a, a).sum()  # recorded here
        with pytest.raises(RuntimeError, match=r"(?s)returned 1 gradients.*out = _TooFew.apply\(a, a\).sum\(\)"):
            out.backward()
