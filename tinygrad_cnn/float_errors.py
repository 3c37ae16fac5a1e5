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
while the library runs, and restored when it returns. numpy keeps the state in
a context variable, one per thread, so a quiet region in one thread changes
nothing in another. Each tool reads the state first and switches it only when
it is not quiet already: reading costs about 30 ns, switching and restoring
about 90. (`np.errstate` itself would do, but it costs about 2 us per use, as
much as a whole graph node; a process-wide counter of quiet regions, kept in a
class attribute, cost about 600 ns per quiet function, because every write to
a class attribute makes Python forget what it had cached about the class.)
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


class quiet_region:
    """`with quiet_region(): ...` runs the block with numpy's floating-point warnings off.
    Nested regions and `quietly` functions inside it cost almost nothing."""

    __slots__ = ("token",)

    def __enter__(self) -> None:
        self.token = None if error_state() is IGNORE_ALL else set_error_state(IGNORE_ALL)

    def __exit__(self, *exc: object) -> None:
        if self.token is not None:
            reset_error_state(self.token)


def quietly(function: F) -> F:
    """`function`, run with numpy's floating-point warnings off (see the module docstring)."""

    @functools.wraps(function)
    def quiet_function(*args: Any, **kwargs: Any) -> Any:
        if error_state() is IGNORE_ALL:  # already quiet (inside a backward pass, say)
            return function(*args, **kwargs)
        token = set_error_state(IGNORE_ALL)
        try:
            return function(*args, **kwargs)
        finally:
            reset_error_state(token)

    return quiet_function  # type: ignore[return-value]
