import os

import numpy as np
import pytest
from hypothesis import settings

import tinygrad_cnn as tg

# Property-based tests (hypothesis): by default a fixed, small number of
# derandomized examples, so the suite stays fast and every run tries the same
# cases; the "slow" profile draws many more, new ones each run:
#   HYPOTHESIS_PROFILE=slow .venv/bin/python -m pytest tests/test_properties.py tests/test_corruption_properties.py
# (or `pytest --hypothesis-profile slow`).
settings.register_profile("default", max_examples=20, derandomize=True, deadline=None, print_blob=True)
settings.register_profile("slow", max_examples=500, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator for test data."""
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _seed_library() -> None:
    tg.manual_seed(0)
