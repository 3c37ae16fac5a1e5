"""Arrays as the drawings and the pages show them: summary statistics and exact bytes."""

from __future__ import annotations

import base64

import numpy as np

__all__ = ["array_statistics", "exact_bytes", "norm"]


def norm(values: np.ndarray) -> float:
    """The Euclidean norm, sqrt(sum of x^2) over every element."""
    return float(np.sqrt((values * values).sum()))


def array_statistics(array: np.ndarray) -> dict[str, float]:
    """mean, std, min, max and norm of a non-empty array, computed in float64.

    An inf or nan among the values gives inf or nan statistics, without a warning.
    """
    values = array.astype(np.float64, copy=False)
    with np.errstate(all="ignore"):
        return {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "min": float(values.min()),
            "max": float(values.max()),
            "norm": norm(values),
        }


def exact_bytes(array: np.ndarray) -> dict[str, str]:
    """The array's values for a page's script: {"type": "f4" or "f8", "b64": base64 text}.

    float32 exactly as it is; anything else as float64, which is exact for
    every int up to 2**53 and for bools. Little-endian, row-major.
    """
    kind, dtype = ("f4", "<f4") if array.dtype == np.float32 else ("f8", "<f8")
    data = base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")
    return {"type": kind, "b64": data}
