"""Property-based tests: random damage to a real checkpoint and to IDX files.

Whatever happens to the bytes (cut at any offset, bits flipped anywhere, junk
written over a stretch, a file of pure junk), reading them gives either the
one-line error of the training command or, when the damage leaves a valid
file, exactly what that file holds; never a traceback.

The number of examples comes from the hypothesis profile registered in
conftest.py ("fast" by default, "slow" for many more).
"""

from __future__ import annotations

import gzip
import os
import tempfile

import numpy as np
import pytest

from tinygrad_cnn import train as T
from tinygrad_cnn.data import FASHION_MNIST_DIR, load_fashion_mnist, load_mnist, read_idx, write_idx

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR), reason="Fashion-MNIST is not installed")

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


# ---------------------------------------------------------------------------
# Damage
# ---------------------------------------------------------------------------


def offsets(size: int) -> st.SearchStrategy[int]:
    """Anywhere in a file of `size` bytes, with extra weight on its first and
    last 256 bytes, where the headers (and a zip's central directory) are."""
    last = size - 1
    return st.one_of(
        st.integers(0, last),
        st.integers(0, min(255, last)),
        st.integers(max(0, size - 256), last),
    )


@st.composite
def damaged(draw: st.DrawFn, original: bytes) -> bytes:
    kind = draw(st.sampled_from(["truncate", "flip", "junk over", "all junk"]))
    if kind == "truncate":
        return original[:draw(st.integers(0, len(original) - 1))]
    if kind == "flip":
        data = bytearray(original)
        for offset, mask in draw(st.lists(st.tuples(offsets(len(data)), st.integers(1, 255)), min_size=1,
                                          max_size=3)):
            data[offset] ^= mask
        return bytes(data)
    if kind == "junk over":
        start = draw(offsets(len(original)))
        junk = draw(st.binary(min_size=1, max_size=64))
        return original[:start] + junk + original[start + len(junk):]
    return draw(st.binary(max_size=512))


def assert_one_line(message: str, *fragments: str) -> None:
    assert "\n" not in message, message
    assert len(message) < 600, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# ---------------------------------------------------------------------------
# A real checkpoint
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory):
    """The bytes of a checkpoint written by a real run (the MLP, 1 epoch on 128 images), and what it holds."""
    out = str(tmp_path_factory.mktemp("real"))
    data = T.load_dataset("fashion-mnist", limit_train=128, limit_test=32)
    config = T.TrainConfig(model="mlp", epochs=1, batch_size=64, limit_train=128, limit_test=32)
    T.train(config, out_dir=out, progress=False, log=None, data=data)
    path = os.path.join(out, T.CHECKPOINT_NAME)
    with open(path, "rb") as f:
        return f.read(), T.load_checkpoint(path)


def assert_same_checkpoint(loaded: T.Checkpoint, original: T.Checkpoint) -> None:
    assert loaded.epoch == original.epoch
    assert loaded.config == original.config
    assert loaded.history == original.history
    assert loaded.rng_state == original.rng_state
    assert loaded.model_state.keys() == original.model_state.keys()
    for name, value in original.model_state.items():
        np.testing.assert_array_equal(loaded.model_state[name], value)
    assert loaded.optimizer_state["param_groups"] == original.optimizer_state["param_groups"]
    state, original_state = loaded.optimizer_state["state"], original.optimizer_state["state"]
    assert state.keys() == original_state.keys()
    for index, values in original_state.items():
        assert state[index].keys() == values.keys()
        for key, value in values.items():
            np.testing.assert_array_equal(state[index][key], value)


@given(data=st.data())
def test_a_damaged_checkpoint_is_refused_in_one_line_or_read_intact(real_checkpoint, data):
    original_bytes, original = real_checkpoint
    damaged_bytes = data.draw(damaged(original_bytes))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, T.CHECKPOINT_NAME)
        with open(path, "wb") as f:
            f.write(damaged_bytes)
        try:
            loaded = T.load_checkpoint(path)
        except T.TrainingError as err:
            assert_one_line(str(err), path)
            return
    # A change the zip format does not look at (a timestamp, say): the same checkpoint.
    assert_same_checkpoint(loaded, original)


def test_the_damage_strategy_reaches_both_outcomes(real_checkpoint):
    # The property above would hold trivially if every damaged file were
    # refused, or if nothing ever changed: both outcomes must occur.
    original_bytes, original = real_checkpoint
    outcomes = set()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, T.CHECKPOINT_NAME)
        # Byte 10 is inside the first entry's modification time: not checked.
        for offset in (10, len(original_bytes) // 2):
            data = bytearray(original_bytes)
            data[offset] ^= 0x01
            with open(path, "wb") as f:
                f.write(bytes(data))
            try:
                assert_same_checkpoint(T.load_checkpoint(path), original)
                outcomes.add("read intact")
            except T.TrainingError:
                outcomes.add("refused")
    assert outcomes == {"read intact", "refused"}


# ---------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def idx_files():
    """The four IDX files of a small real subset (20 training, 10 test images), plain and gzip-compressed."""
    x_train, y_train, x_test, y_test = load_fashion_mnist()
    arrays = (x_train[:20], y_train[:20].astype(np.uint8), x_test[:10], y_test[:10].astype(np.uint8))
    files = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, array in zip(IDX_FILES, arrays):
            for suffix in ("", ".gz"):
                path = os.path.join(folder, name + suffix)
                write_idx(path, array)
                with open(path, "rb") as f:
                    files[name + suffix] = f.read()
    return files


def idx_content(raw: bytes) -> bytes:
    """The IDX bytes inside a file: gunzipped if it is gzip-compressed."""
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


@given(data=st.data())
def test_damaged_idx_files_are_refused_in_one_line_or_read_as_written(idx_files, data):
    suffix = data.draw(st.sampled_from(["", ".gz"]), label="compression")
    victim = data.draw(st.sampled_from(IDX_FILES), label="damaged file") + suffix
    damaged_bytes = data.draw(damaged(idx_files[victim]), label="damage")
    with tempfile.TemporaryDirectory() as folder:
        for name in IDX_FILES:
            with open(os.path.join(folder, name + suffix), "wb") as f:
                f.write(damaged_bytes if name + suffix == victim else idx_files[name + suffix])
        try:
            x_train, y_train, x_test, y_test = T.load_dataset("mnist", folder)
        except T.TrainingError as err:
            assert_one_line(str(err))
            return
        # The damage left valid files (a changed pixel or label, say): what
        # was read is exactly what the files hold. Written back, each array
        # gives the file's bytes again.
        for name in IDX_FILES:
            path = os.path.join(folder, name + suffix)
            with open(path, "rb") as f:
                content = idx_content(f.read())
            rewritten = os.path.join(folder, "rewritten")
            write_idx(rewritten, read_idx(path))
            with open(rewritten, "rb") as f:
                assert f.read() == content, name
        raw = load_mnist(folder)
        np.testing.assert_array_equal(y_train, read_idx(os.path.join(folder, IDX_FILES[1] + suffix)))
        np.testing.assert_array_equal(y_test, read_idx(os.path.join(folder, IDX_FILES[3] + suffix)))
        np.testing.assert_array_equal(raw[1], y_train)
        assert x_train.shape == (20, 1, 28, 28) and x_test.shape == (10, 1, 28, 28)
