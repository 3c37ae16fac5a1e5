"""Overflow and invalid values give inf and nan silently, as in PyTorch.

numpy warns when a floating-point result overflows or is undefined
("RuntimeWarning: overflow encountered in multiply"). PyTorch does not: a
float32 `x * x` at 1e30 is inf, `inf - inf` is nan, and nothing is printed.
The library follows PyTorch, so a warning from deep inside an op never reaches
the user (and a test run with warnings as errors does not fail there).

Two tools, used by the ops:

* `quietly(function)` wraps a function (an op's forward) so that it runs with
  numpy's floating-point warnings off. It is used on the smallest, most
  frequent ops (add, mul, ...), so it is made cheap: `np.errstate` costs about
  2 us per use, as much as a whole graph node, while setting numpy's error
  state directly costs a tenth of that.
* `quiet()` is `np.errstate(all="ignore")`, for a block inside a larger op.

The user's own numpy code is not affected: the error state is set only while
the library's function runs, and restored after it.
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
    # numpy >= 2 keeps its error state in a context variable; np.errstate sets
    # and resets it, after building the state from its keyword arguments. Here
    # the "ignore everything" state is built once and the variable is set
    # directly, which is what makes `quietly` cheap.
    from numpy._core._ufunc_config import _extobj_contextvar as _error_state
except ImportError:  # older numpy: use the public (slower) context manager
    _error_state = None

if _error_state is not None:
    with quiet():
        _IGNORE_ALL = _error_state.get()


def quietly(function: F) -> F:
    """`function`, run with numpy's floating-point warnings off (see the module docstring)."""
    if _error_state is None:
        return np.errstate(all="ignore")(function)
    set_state, reset_state = _error_state.set, _error_state.reset

    @functools.wraps(function)
    def quiet_function(*args: Any, **kwargs: Any) -> Any:
        token = set_state(_IGNORE_ALL)
        try:
            return function(*args, **kwargs)
        finally:
            reset_state(token)

    return quiet_function  # type: ignore[return-value]
