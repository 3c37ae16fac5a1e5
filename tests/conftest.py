import numpy as np
import pytest

import tinygrad_cnn as tg

try:
    from hypothesis import settings
except ImportError:  # the property tests skip themselves without hypothesis
    settings = None

if settings is not None:
    # Property-based tests: a fixed, small number of derandomized examples by
    # default, so the suite stays fast and every run tries the same cases;
    # `pytest --hypothesis-profile slow` tries many more (and new ones each run).
    settings.register_profile("default", max_examples=20, derandomize=True, deadline=None, print_blob=True)
    settings.register_profile("slow", max_examples=500, deadline=None, print_blob=True)
    settings.load_profile("default")


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator for test data."""
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _seed_library() -> None:
    tg.manual_seed(0)
