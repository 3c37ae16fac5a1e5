"""Making tensors: constants, ranges and random draws.

Every random draw in the library (initialisation, dropout, shuffling) comes
from one generator, so `manual_seed(n)` makes a whole run reproducible.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .tensor import Tensor

_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the library's random generator (initialisation, dropout, shuffling)."""
    global _rng
    _rng = np.random.default_rng(seed)


def get_rng() -> np.random.Generator:
    """The library's random generator, as seeded by `manual_seed`."""
    return _rng


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"shape must be non-negative integers, got {shape}")
    return tuple(int(n) for n in shape)


def zeros(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros."""
    return Tensor(np.zeros(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return Tensor(np.ones(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def full(shape: Any, fill_value: float, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """A tensor filled with one value."""
    return Tensor(np.full(_shape((shape,)), fill_value, dtype=dtype), requires_grad=requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, stop), as numpy's arange (float32 for float arguments)."""
    values = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is None and values.dtype == np.float64:
        dtype = np.float32
    return Tensor(values, dtype=dtype, requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """The identity matrix (n x m)."""
    return Tensor(np.eye(n, m, dtype=dtype), requires_grad=requires_grad)


def rand(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Uniform random values in [0, 1)."""
    return Tensor(_rng.random(_shape(shape)).astype(dtype), requires_grad=requires_grad)


def randn(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """Standard normal random values."""
    return Tensor(_rng.standard_normal(_shape(shape)).astype(dtype), requires_grad=requires_grad)


def uniform(*shape: Any, low: float = 0.0, high: float = 1.0, dtype: Any = np.float32,
            requires_grad: bool = False) -> Tensor:
    """Uniform random values in [low, high)."""
    if not low <= high:
        raise ValueError(f"uniform: low={low} is greater than high={high}")
    return Tensor(_rng.uniform(low, high, _shape(shape)).astype(dtype), requires_grad=requires_grad)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    """Zeros with the shape and dtype of t."""
    return Tensor(np.zeros_like(t.data), requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    """Ones with the shape and dtype of t."""
    return Tensor(np.ones_like(t.data), requires_grad=requires_grad)


# ---------------------------------------------------------------------------
# dtype names and numpy arrays, as PyTorch spells them
# ---------------------------------------------------------------------------

# PyTorch's dtype names for numpy's dtypes: `tg.zeros(3, dtype=tg.float64)`,
# `x.to(tg.int64)`, `x.dtype == tg.float32`. They are numpy's scalar types.
float16 = half = np.float16
float32 = np.float32
float64 = double = np.float64
uint8 = np.uint8
int8 = np.int8
int16 = np.int16
int32 = np.int32
int64 = long = np.int64
bool_ = np.bool_  # exported as tinygrad_cnn.bool, PyTorch's name


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """PyTorch's torch.tensor: a new tensor holding its own copy of `data`.

    Unlike `Tensor(array)`, which shares a numpy array's memory, a numpy array
    is copied, so writing into the tensor (`t[0] = 1`) leaves the array as it
    was; `from_numpy` is the sharing form. Python floats become float32.
    """
    if isinstance(data, np.ndarray):
        data = data.copy()
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor that shares memory with a numpy array, as PyTorch's from_numpy.

    The dtype is kept (a float64 array gives a float64 tensor), and writing
    into one is seen by the other. For a tensor with memory of its own use
    `tinygrad_cnn.tensor(array)`.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "fiub":
        raise TypeError(f"from_numpy: unsupported dtype {array.dtype}; a tensor holds float, int or bool data")
    return Tensor(array)
