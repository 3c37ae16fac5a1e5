"""Recording on and off: `no_grad`, `enable_grad`, `inference_mode`, and the module scope.

Ops record the graph while recording is on (the default). Each thread has its
own switch, as in PyTorch: a `no_grad()` block, or a backward pass (which
records only with create_graph=True), in one thread does not stop another
thread's forward pass from being recorded.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class RecordingState(threading.local):
    """This thread's switches, read by `Function.apply` for every op.

    The class attributes are each thread's starting values; `__init__` runs
    once in each thread that uses the state, and values set on the instance
    are read faster than the class's defaults.
    """

    enabled = True
    # The dotted path of the nn.Module whose forward is running ("conv1",
    # "features.0"), recorded on each Function so drawings can group ops.
    module_path: str | None = None

    def __init__(self) -> None:
        self.enabled = True
        self.module_path = None


# The one instance: `recording.enabled` is the calling thread's value.
recording = RecordingState()


def is_grad_enabled() -> bool:
    """True when ops record the graph (the default)."""
    return recording.enabled


class GradModeSwitch(contextlib.ContextDecorator):
    """Sets `recording.enabled` inside a `with` block (or a decorated function), then restores it."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __enter__(self) -> None:
        self.previous = recording.enabled
        recording.enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        recording.enabled = self.previous

    def _recreate_cm(self) -> GradModeSwitch:
        # As a decorator, a fresh object per call: a function that calls itself
        # must not overwrite the outer call's `previous`.
        return GradModeSwitch(self.enabled)


def no_grad() -> GradModeSwitch:
    """Turn recording off: `with no_grad(): ...` or `@no_grad()` on a function.

    Use it for evaluation and for updating parameters: nothing inside builds a
    graph, so it is faster and uses less memory.
    """
    return GradModeSwitch(False)


def inference_mode(mode: bool = True) -> GradModeSwitch:
    """PyTorch's `inference_mode`: here the same as `no_grad()` (nothing is recorded).

    `with inference_mode():` or `@inference_mode()`; inference_mode(False) records as usual.
    """
    if not isinstance(mode, bool):
        raise TypeError(f"inference_mode: mode must be True or False, got {type(mode).__name__} {mode!r}")
    return GradModeSwitch(not mode)


def enable_grad() -> GradModeSwitch:
    """Turn recording back on inside a `no_grad` block."""
    return GradModeSwitch(True)


@contextlib.contextmanager
def module_scope(name: str) -> Iterator[None]:
    """Ops recorded inside are tagged with the module path (nested scopes join
    with dots: "features" then "conv1" gives "features.conv1")."""
    previous = recording.module_path
    recording.module_path = name if previous is None else f"{previous}.{name}"
    try:
        yield
    finally:
        recording.module_path = previous
