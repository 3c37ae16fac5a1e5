import os

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


# Property-based tests (hypothesis): a fixed, small number of examples drawn
# the same way on every run, so the suite stays fast and repeatable; the
# "slow" profile draws many more, new ones each run:
#   HYPOTHESIS_PROFILE=slow .venv/bin/python -m pytest tests/test_corruption_properties.py
try:
    from hypothesis import settings
except ImportError:  # the property tests skip themselves
    pass
else:
    settings.register_profile("fast", max_examples=30, derandomize=True, deadline=None)
    settings.register_profile("slow", max_examples=1000, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))
