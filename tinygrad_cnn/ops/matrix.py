"""The matrix product, with numpy's rules for 1-D, 2-D and batched operands."""

from __future__ import annotations

import numpy as np

from ..float_errors import quietly
from ..function import Function, trust_forward
from ..tensor import Tensor
from ..vjp_rule import VjpRule
from .shape import reshape, squeeze


class MatMul(Function):
    """a @ b for a and b of at least two dimensions (batched, broadcasting)."""

    @quietly  # a product past the largest float is inf, without a warning
    def forward(self, a, b):
        return np.matmul(a, b)

    vjp_rule = VjpRule(
        {"A": "{g}·Bᵀ", "B": "Aᵀ·{g}"},
        plain="a matrix product's gradient is the upstream gradient times the other matrix, transposed",
    )

    def backward(self, g):
        a, b = self.parents
        # The transposes are of the last two axes: one product per batch element.
        ga = g @ b.swapaxes(-1, -2) if self.needs_grad[0] else None
        gb = None
        if self.needs_grad[1]:
            if b.data.ndim == 2 and not b.data.flags.c_contiguous and b.data.flags.f_contiguous:
                # b is a transposed matrix (`x @ w.T` in a linear layer): compute
                # (g^T A)^T, the same product, so that dL/dB is the transpose of a
                # C-ordered matrix like b, and dL/dw is then C-ordered like w
                # (no slow transposing copy when it is stored in w.grad).
                gb = (g.swapaxes(-1, -2) @ a).swapaxes(-1, -2)
            else:
                gb = a.swapaxes(-1, -2) @ g
        return ga, gb


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with numpy's rules: 1-D, 2-D and batched (broadcast) operands."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"matmul: operands must be Tensors, got {type(a).__name__} and {type(b).__name__}")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[0 if b.ndim == 1 else -2]:
        inner_b = b.shape[0 if b.ndim == 1 else -2]
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} do not match: inner dimensions {a.shape[-1]} and {inner_b} differ"
        )
    # A 1-D operand is a row (on the left) or a column (on the right) vector
    # whose extra axis is removed from the result afterwards.
    a2 = reshape(a, (1, a.shape[0])) if a.ndim == 1 else a
    b2 = reshape(b, (b.shape[0], 1)) if b.ndim == 1 else b
    try:
        out = MatMul.apply(a2, b2)
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of shapes {a.shape} and {b.shape} cannot be broadcast") from None
    if b.ndim == 1:
        out = squeeze(out, -1)
    if a.ndim == 1:
        out = squeeze(out, -2 if b.ndim > 1 else -1)
    return out


# The forward above never writes into its input arrays (see Function.guards_inputs).
trust_forward(MatMul)
