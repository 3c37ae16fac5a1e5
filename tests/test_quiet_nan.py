"""softplus and binary_cross_entropy_with_logits on nan input: nan out, nan
gradient, and no numpy RuntimeWarning (as every other op; float_errors.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import functional as F


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", [
    lambda x: F.softplus(x),
    lambda x: F.softplus(x, beta=2.0),
    lambda x: F.binary_cross_entropy_with_logits(x, np.array([1.0, 0.0, 1.0, 0.0]), reduction="none"),
    lambda x: F.binary_cross_entropy_with_logits(x, np.array([1.0, 0.0, 1.0, 0.0]), pos_weight=tg.Tensor(2.0)),
], ids=["softplus", "softplus-beta", "bce-logits", "bce-logits-pos-weight"])
def test_nan_input_gives_nan_without_a_warning(loss, dtype: type) -> None:
    x = tg.Tensor(np.array([np.nan, 1.0, -3.0, 4.0], dtype=dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = loss(x)
        out.sum().backward()
    assert np.isnan(out.data.flat[0])
    assert np.isnan(x.grad.data[0]) and np.isfinite(x.grad.data[1:]).all()
