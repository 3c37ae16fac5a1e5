import numpy as np
import pytest

import tinygrad_cnn as tg


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator for test data."""
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _seed_library() -> None:
    tg.manual_seed(0)
