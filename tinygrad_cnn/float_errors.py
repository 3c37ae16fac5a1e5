"""Overflow and invalid values give inf and nan silently, as in PyTorch.

numpy warns when a floating-point result overflows or is undefined
("RuntimeWarning: overflow encountered in multiply"). PyTorch does not: a
float32 `x * x` at 1e30 is inf, `inf - inf` is nan, and nothing is printed.
The library follows PyTorch, so a warning from deep inside an op never reaches
the user (and a program run with warnings as errors does not stop there).

Three tools, used by the ops and the engine:

* `quietly(function)` wraps a function (an op's forward) so that it runs with
  numpy's floating-point warnings off.
* `quiet_region()` is a context manager for a large region, such as a whole
  backward pass: inside it, `quietly` functions skip switching the state.
  Switching costs little, but the smallest ops (add, mul) are so cheap that
  switching on each of them would add a fifth to their time.
* `quiet()` is `np.errstate(all="ignore")`, for a block inside an op.

The user's own numpy code is not affected: the error state is changed only
while the library runs, and restored when it returns. (The count of running
quiet regions is one for the process: an op run in a second thread while the
first is inside a region may still print a numpy warning, but never computes
anything differently.) (`np.errstate` itself
would do, but it costs about 2 us per use, as much as a whole graph node.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])


def quiet() -> np.errstate:
    """A context manager: numpy's overflow / divide / invalid / underflow warnings off."""
    return np.errstate(all="ignore")


try:
    # numpy >= 2 keeps its error state in a context variable. np.errstate
    # builds the state from its keyword arguments and sets the variable; here
    # the "ignore everything" state is built once and the variable set directly.
    from numpy._core._ufunc_config import _extobj_contextvar as _error_state  # type: ignore[attr-defined]
except ImportError:  # older numpy: the global state of np.seterr
    _error_state = None

if _error_state is not None:
    with quiet():
        IGNORE_ALL = _error_state.get()
    set_error_state, reset_error_state = _error_state.set, _error_state.reset
    error_state = _error_state.get  # the state now: IGNORE_ALL inside a quiet region
else:
    # The state is np.seterr's dict of settings, returned by the call that changes it.
    def set_error_state(_: Any) -> Any:
        return np.seterr(all="ignore")

    def reset_error_state(previous: Any) -> None:
        np.seterr(**previous)

    def error_state() -> Any:
        return np.geterr()  # never IGNORE_ALL (None): the binary ops always switch

    IGNORE_ALL = None


class QuietDepth:
    """How many quiet regions and quiet functions are running (0: none, warnings on)."""

    count = 0


class quiet_region:
    """`with quiet_region(): ...` runs the block with numpy's floating-point warnings off.
    Nested regions and `quietly` functions inside it cost almost nothing."""

    __slots__ = ("token",)

    def __enter__(self) -> None:
        self.token = set_error_state(IGNORE_ALL) if QuietDepth.count == 0 else None
        QuietDepth.count += 1

    def __exit__(self, *exc: object) -> None:
        QuietDepth.count -= 1
        if self.token is not None:
            reset_error_state(self.token)


def quietly(function: F) -> F:
    """`function`, run with numpy's floating-point warnings off (see the module docstring)."""

    @functools.wraps(function)
    def quiet_function(*args: Any, **kwargs: Any) -> Any:
        if QuietDepth.count:  # already quiet (inside a backward pass, say)
            return function(*args, **kwargs)
        token = set_error_state(IGNORE_ALL)
        QuietDepth.count += 1  # counted, not set: another thread may be inside a region too
        try:
            return function(*args, **kwargs)
        finally:
            QuietDepth.count -= 1
            reset_error_state(token)

    return quiet_function  # type: ignore[return-value]
