"""Anomaly mode: find the op whose gradient first became nan or inf.

    with tinygrad_cnn.detect_anomaly():
        loss = model(x)
        loss.backward()

While the mode is on, every op recorded in the forward pass keeps a short
traceback of the user's code that called it (library frames are left out),
and the backward pass checks the gradients each VJP returns. The first
nan or inf raises an AnomalyError (a RuntimeError) that names the op, the input whose
gradient it is, and where in the user's code that op was recorded. Any other
error raised by a VJP gets that place added too (as a note, Python 3.11+).

It costs time (a traceback per op, a scan of every gradient), so it is off
by default; when it is off the engine does no work for it beyond reading one
flag per recorded op.
"""

from __future__ import annotations

import contextlib
import os
import threading
import traceback
from typing import Any

import numpy as np

# The frames of the library itself are left out of the recorded tracebacks.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# How many of the innermost user frames a recorded traceback keeps.
_TRACE_FRAMES = 6


class AnomalyModeState(threading.local):
    """Anomaly mode is per thread, like grad mode: a `detect_anomaly()` block
    in one thread neither slows down nor stops another thread (and two threads
    entering and leaving their blocks cannot switch each other's mode off)."""

    enabled = False

    def __init__(self) -> None:
        self.enabled = False  # on the instance, in each thread: faster to read than the class default


# The one instance: reading `anomaly_mode.enabled` gives the calling thread's value.
anomaly_mode = AnomalyModeState()


class AnomalyError(RuntimeError):
    """A VJP returned nan or inf while anomaly mode was on (the message says where)."""


def is_anomaly_enabled() -> bool:
    """True inside `detect_anomaly()`."""
    return anomaly_mode.enabled


class detect_anomaly(contextlib.ContextDecorator):
    """Turn anomaly mode on: `with detect_anomaly(): ...` or `@detect_anomaly()` on a function.

    Both the forward pass (where the tracebacks are recorded) and the
    backward pass (where the gradients are checked) must run inside.
    """

    def __enter__(self) -> detect_anomaly:
        self._previous = anomaly_mode.enabled
        anomaly_mode.enabled = True
        return self

    def __exit__(self, *exc: object) -> None:
        anomaly_mode.enabled = self._previous

    def _recreate_cm(self) -> detect_anomaly:
        # As a decorator, a fresh object per call (a function calling itself).
        return detect_anomaly()


def forward_trace() -> list[traceback.FrameSummary]:
    """The innermost frames of the user's code on the current call stack."""
    frames = [
        frame for frame in traceback.extract_stack()[:-1]
        if not os.path.abspath(frame.filename).startswith(_PACKAGE_DIR)
    ]
    return frames[-_TRACE_FRAMES:]


def format_forward_trace(fn: Any) -> str:
    """The traceback recorded with node `fn`, as text ("" if none was recorded)."""
    frames = None if fn.released else getattr(fn, "forward_trace", None)
    if not frames:
        return ""
    lines = "".join(traceback.format_list(frames))
    return f"\n{fn.name} was recorded in the forward pass here (innermost call last):\n{lines.rstrip()}"


def add_forward_trace(error: BaseException, fn: Any) -> None:
    """Add to an error raised by fn's backward where fn was recorded (Python 3.11+ shows notes)."""
    trace = format_forward_trace(fn)
    if trace and hasattr(error, "add_note"):
        error.add_note(f"(anomaly mode) the error came from the backward of {fn.name}." + trace)


def check_gradients(fn: Any, parent_grads: tuple[Any, ...]) -> None:
    """Raise if a gradient returned by `fn`'s VJP holds nan or inf."""
    for index, grad in enumerate(parent_grads):
        data = getattr(grad, "data", None)
        if not isinstance(data, np.ndarray) or data.dtype.kind != "f" or np.isfinite(data).all():
            continue
        kinds = [kind for kind, found in (("nan", np.isnan(data).any()), ("inf", np.isinf(data).any())) if found]
        parent = fn.parents[index] if index < len(fn.parents) else None
        shape = f" (shape {tuple(parent.shape)})" if parent is not None else ""
        raise AnomalyError(
            f"detect_anomaly: the backward of {fn.name} returned {' and '.join(kinds)} values in the gradient "
            f"of its input {index}{shape}." + format_forward_trace(fn)
        )


class GradientCheck:
    """Anomaly mode's observer of the backward pass (backward.py): the gradients
    each VJP returns are checked for nan and inf as the pass goes."""

    def start(self, order: Any, grads: Any) -> None:
        pass

    def visit(self, node: Any, grad: Any, parent_grads: tuple[Any, ...]) -> None:
        fn = node._ctx
        if fn is not None:
            check_gradients(fn, parent_grads)

    def add(self, parent: Any, added: Any, total: Any) -> None:
        pass
