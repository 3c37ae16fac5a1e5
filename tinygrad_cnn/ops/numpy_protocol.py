"""numpy functions given a Tensor (`ndarray + t`, `np.mean(t)`).

numpy must not compute on a tensor's bare array (through __array__): the
result would be a plain array, silently cut off from the graph. So
`ndarray + tensor` (numpy's operators) is computed by the tensor's own ops,
and any other numpy function given a tensor (np.mean(t), np.exp(t)) raises a
TypeError naming the fix. np.asarray(t) and np.array(t) still give the array.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from ..tensor import Tensor
from .elementwise import add, compare, div, maximum, minimum, mul, power, sub
from .matrix import matmul


def _matmul_any(a: Any, b: Any) -> Tensor:
    return matmul(a if isinstance(a, Tensor) else Tensor(a), b if isinstance(b, Tensor) else Tensor(b))


# numpy's operators on (ndarray, Tensor) pairs, computed with the tensor ops.
_NUMPY_OPERATORS: dict[np.ufunc, Callable[[Any, Any], Tensor]] = {
    np.add: add, np.subtract: sub, np.multiply: mul, np.true_divide: div, np.power: power,
    np.matmul: _matmul_any, np.maximum: maximum, np.minimum: minimum,
}
for _comparison in (np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal):
    _NUMPY_OPERATORS[_comparison] = partial(compare, _comparison, _comparison.__name__)


def _numpy_hint(name: str, arguments: int) -> str:
    own = f"t.{name}(...)" if hasattr(Tensor, name) else "the tensor ops"
    rest = ", ..." if arguments > 1 else ""
    return (f"numpy would compute on the bare array and drop the graph (no gradient). Use {own}; for a plain "
            f"numpy result without gradient, call numpy on the array: np.{name}(t.numpy(){rest})")


def numpy_ufunc_on_tensor(ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """numpy's ufunc protocol: `ndarray + t`, `arr < t` are the tensor ops; other ufuncs are refused."""
    tensor_op = _NUMPY_OPERATORS.get(ufunc)
    if tensor_op is not None and method == "__call__" and not kwargs and len(inputs) == 2:
        return tensor_op(*inputs)
    if kwargs.get("out") is not None:
        raise TypeError(f"np.{ufunc.__name__} with out=: numpy cannot write a tensor's result into an array in "
                        "place (e.g. `arr += t`); write `arr = arr + t` (a Tensor), or use t.numpy()")
    hint = _numpy_hint(ufunc.__name__, len(inputs))
    raise TypeError(f"np.{ufunc.__name__} does not take a tinygrad_cnn Tensor: {hint}")


def numpy_function_on_tensor(func: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """numpy's function protocol (np.mean(t), np.concatenate([t, u])): a TypeError naming the fix."""
    name = func.__name__
    hint = _numpy_hint(name, len(args) + len(kwargs))
    raise TypeError(f"np.{name} does not take a tinygrad_cnn Tensor: {hint}")

