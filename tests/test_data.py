"""Tests for tinygrad_cnn.data: IDX files, datasets, DataLoader, normalisation."""

import gzip
import hashlib
import os
import urllib.error

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tg
from tinygrad_cnn import data
from tinygrad_cnn.data import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    ChecksumError,
    DataLoader,
    Dataset,
    DownloadError,
    IDXFormatError,
    TensorDataset,
    load_fashion_mnist,
    load_mnist,
    normalize,
    read_idx,
    to_float_images,
    write_idx,
)

IDX_BASENAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def make_fake_dataset(folder, n_train=12, n_test=5, gz=True, seed=0):
    """Write a tiny MNIST-like dataset (4 IDX files) into ``folder``."""
    rng = np.random.default_rng(seed)
    arrays = (
        rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, size=n_train).astype(np.uint8),
        rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, size=n_test).astype(np.uint8),
    )
    suffix = ".gz" if gz else ""
    os.makedirs(folder, exist_ok=True)
    for base, array in zip(IDX_BASENAMES, arrays, strict=True):
        write_idx(os.path.join(folder, base + suffix), array)
    return arrays


# --------------------------------------------------------------------------
# IDX round trips
# --------------------------------------------------------------------------

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
SHAPES = [(7,), (3, 4), (2, 3, 5), (2, 1, 3, 2), (0, 4)]


@pytest.mark.parametrize("dtype", IDX_DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, rng, dtype, shape, suffix):
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    else:
        array = rng.standard_normal(shape).astype(dtype)
    path = tmp_path / ("a.idx" + suffix)
    write_idx(path, array)

    loaded = read_idx(path)
    assert loaded.dtype == np.dtype(dtype)
    assert loaded.shape == shape
    np.testing.assert_array_equal(loaded, array)
    # A fresh array the caller may modify, in native byte order.
    assert loaded.flags.writeable
    assert loaded.dtype.isnative


def test_write_idx_gzips_only_for_gz_suffix(tmp_path):
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    write_idx(tmp_path / "plain.idx", array)
    write_idx(tmp_path / "packed.idx.gz", array)
    assert (tmp_path / "plain.idx").read_bytes()[:2] == b"\x00\x00"
    assert (tmp_path / "packed.idx.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_idx_header_layout_is_big_endian(tmp_path):
    path = tmp_path / "x.idx"
    write_idx(path, np.array([1, -2], dtype=np.int16))
    expected = bytes([0, 0, 0x0B, 1]) + (2).to_bytes(4, "big") + b"\x00\x01\xff\xfe"
    assert path.read_bytes() == expected


def test_read_idx_detects_gzip_by_content_not_name(tmp_path):
    array = np.arange(10, dtype=np.int32)
    # gzip data under a plain name ...
    write_idx(tmp_path / "a.gz", array)
    os.rename(tmp_path / "a.gz", tmp_path / "a-idx1-ubyte")
    np.testing.assert_array_equal(read_idx(tmp_path / "a-idx1-ubyte"), array)
    # ... and plain data under a .gz name.
    write_idx(tmp_path / "b", array)
    os.rename(tmp_path / "b", tmp_path / "b.gz")
    np.testing.assert_array_equal(read_idx(tmp_path / "b.gz"), array)


def test_read_idx_accepts_str_paths(tmp_path):
    path = str(tmp_path / "s.idx")
    write_idx(path, np.ones((2, 2), dtype=np.float32))
    assert read_idx(path).shape == (2, 2)


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError, match="int64"):
        write_idx(tmp_path / "x.idx", np.arange(3, dtype=np.int64))


# --------------------------------------------------------------------------
# IDX errors
# --------------------------------------------------------------------------


def write_bytes(tmp_path, name, content, gz=False):
    path = tmp_path / name
    path.write_bytes(gzip.compress(content) if gz else content)
    return path


def valid_idx_bytes():
    # uint8, 2 dims, shape (2, 3), 6 data bytes.
    return bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_data(tmp_path, gz):
    path = write_bytes(tmp_path, "short.idx", valid_idx_bytes()[:-2], gz=gz)
    with pytest.raises(IDXFormatError, match="truncated: expected 6 bytes of data, found 4") as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    assert "found 4" in message


def test_truncated_header(tmp_path):
    path = write_bytes(tmp_path, "hdr.idx", valid_idx_bytes()[:9])
    with pytest.raises(IDXFormatError, match="truncated header") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_empty_file(tmp_path):
    path = write_bytes(tmp_path, "empty.idx", b"")
    with pytest.raises(IDXFormatError, match="truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_bad_magic_number(tmp_path):
    path = write_bytes(tmp_path, "magic.idx", b"\x01\x02" + valid_idx_bytes()[2:])
    with pytest.raises(IDXFormatError, match="bad magic number 0x01020802") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_unknown_dtype_code(tmp_path):
    content = bytearray(valid_idx_bytes())
    content[2] = 0x0A
    path = write_bytes(tmp_path, "dtype.idx", bytes(content))
    with pytest.raises(IDXFormatError, match="unknown dtype code 0x0A") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("gz", [False, True])
def test_extra_trailing_bytes(tmp_path, gz):
    path = write_bytes(tmp_path, "long.idx", valid_idx_bytes() + b"\x00\x00\x00", gz=gz)
    with pytest.raises(IDXFormatError, match="expected 6 bytes of data.*found 9") as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert "3 extra bytes" in str(info.value)


def test_truncated_gzip_stream(tmp_path):
    packed = gzip.compress(valid_idx_bytes() * 50)
    path = write_bytes(tmp_path, "cut.idx.gz", packed[: len(packed) // 2])
    with pytest.raises(IDXFormatError, match="truncated gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupt_gzip_stream(tmp_path):
    path = write_bytes(tmp_path, "bad.idx.gz", b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(IDXFormatError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_format_error_is_value_error():
    assert issubclass(IDXFormatError, ValueError)


def test_missing_idx_file(tmp_path):
    path = tmp_path / "nope.idx"
    with pytest.raises(FileNotFoundError, match="nope.idx"):
        read_idx(path)


# --------------------------------------------------------------------------
# Fashion-MNIST (the real files of the dataset-fashion-mnist package)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fashion():
    if not os.path.isdir(data.FASHION_MNIST_DIR):
        pytest.skip("dataset-fashion-mnist is not installed")
    return load_fashion_mnist()


def test_fashion_mnist_shapes_and_dtypes(fashion):
    x_train, y_train, x_test, y_test = fashion
    assert x_train.shape == (60000, 28, 28)
    assert y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28)
    assert y_test.shape == (10000,)
    assert x_train.dtype == np.uint8 and x_test.dtype == np.uint8
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64


def test_fashion_mnist_labels_and_class_balance(fashion):
    _, y_train, _, y_test = fashion
    assert y_train.min() == 0 and y_train.max() == 9
    assert y_test.min() == 0 and y_test.max() == 9
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
    assert len(FASHION_MNIST_CLASSES) == 10
    assert FASHION_MNIST_CLASSES[0] == "T-shirt/top"
    assert FASHION_MNIST_CLASSES[9] == "Ankle boot"


def test_fashion_mnist_mean_and_std_constants(fashion):
    # A histogram of the 256 pixel values gives the exact statistics fast.
    counts = np.bincount(fashion[0].ravel(), minlength=256)
    values = np.arange(256) / 255
    mean = np.sum(counts * values) / counts.sum()
    std = np.sqrt(np.sum(counts * (values - mean) ** 2) / counts.sum())
    assert round(mean, 4) == FASHION_MNIST_MEAN
    assert round(std, 4) == FASHION_MNIST_STD


def test_fashion_mnist_missing_root(tmp_path):
    root = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist(root)
    message = str(info.value)
    assert f"Fashion-MNIST not found in {root}" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "root=" in message


def test_fashion_mnist_names_missing_files(tmp_path):
    make_fake_dataset(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        load_fashion_mnist(tmp_path)


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_custom_root_gz_or_plain(tmp_path, gz):
    arrays = make_fake_dataset(tmp_path, gz=gz)
    loaded = load_fashion_mnist(tmp_path)
    for got, want in zip(loaded, arrays, strict=True):
        np.testing.assert_array_equal(got, want)
    assert loaded[1].dtype == np.int64


def test_dataset_count_mismatch(tmp_path):
    make_fake_dataset(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(11, dtype=np.uint8))
    with pytest.raises(ValueError, match="12 images but .* 11 labels"):
        load_fashion_mnist(tmp_path)


def test_dataset_label_out_of_range(tmp_path):
    make_fake_dataset(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 3, 10], dtype=np.uint8))
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.9"):
        load_fashion_mnist(tmp_path)


# --------------------------------------------------------------------------
# MNIST (no network: downloads go through a fake fetch function)
# --------------------------------------------------------------------------


def test_load_mnist_from_directory(tmp_path):
    arrays = make_fake_dataset(tmp_path, gz=False)
    loaded = load_mnist(tmp_path)
    for got, want in zip(loaded, arrays, strict=True):
        np.testing.assert_array_equal(got, want)


def test_load_mnist_missing_explains_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True") as info:
        load_mnist(tmp_path / "mnist")
    assert "MNIST not found in" in str(info.value)


def test_mnist_md5_table():
    assert data.MNIST_MD5["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert data.MNIST_MD5["t10k-labels-idx1-ubyte.gz"] == "ec29112dd5afa0611ce80d1b7f02629c"


@pytest.fixture
def fake_server(tmp_path, monkeypatch):
    """Serve a fake MNIST from memory; MD5 table patched to match it."""
    source = tmp_path / "source"
    arrays = make_fake_dataset(source)
    files = {name: (source / name).read_bytes() for name in os.listdir(source)}
    for name, content in files.items():
        monkeypatch.setitem(data.MNIST_MD5, name, hashlib.md5(content).hexdigest())
    requested = []

    def fake_fetch(url, out, timeout=60.0):
        requested.append(url)
        out.write(files[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(data, "_fetch", fake_fetch)
    return arrays, files, requested


def test_mnist_download_success(tmp_path, fake_server):
    arrays, files, requested = fake_server
    root = tmp_path / "mnist"
    loaded = load_mnist(root, download=True)
    for got, want in zip(loaded, arrays, strict=True):
        np.testing.assert_array_equal(got, want)
    assert sorted(os.listdir(root)) == sorted(files)  # no temporary files left
    assert len(requested) == 4
    assert all(url.startswith(data.MNIST_MIRRORS[0]) for url in requested)

    # Files already there are not downloaded again.
    requested.clear()
    load_mnist(root, download=True)
    assert requested == []


def test_mnist_download_checksum_mismatch(tmp_path, monkeypatch):
    def bad_fetch(url, out, timeout=60.0):
        out.write(b"not the file you wanted")

    monkeypatch.setattr(data, "_fetch", bad_fetch)
    root = tmp_path / "mnist"
    with pytest.raises(DownloadError) as info:
        load_mnist(root, download=True)
    message = str(info.value)
    assert "checksum mismatch" in message
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in message
    assert hashlib.md5(b"not the file you wanted").hexdigest() in message
    for mirror in data.MNIST_MIRRORS:
        assert mirror in message
    assert os.listdir(root) == []  # neither the bad file nor a temp file


def test_download_verified_raises_checksum_error(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_fetch", lambda url, out, timeout=60.0: out.write(b"abc"))
    dest = tmp_path / "file.gz"
    with pytest.raises(ChecksumError, match="expected md5 0+, got"):
        data._download_verified("https://example.invalid/file.gz", str(dest), "0" * 32)
    assert os.listdir(tmp_path) == []


def test_download_verified_writes_file(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_fetch", lambda url, out, timeout=60.0: out.write(b"abc"))
    dest = tmp_path / "file.gz"
    data._download_verified("https://example.invalid/file.gz", str(dest), hashlib.md5(b"abc").hexdigest())
    assert dest.read_bytes() == b"abc"
    assert os.listdir(tmp_path) == ["file.gz"]


def test_a_downloaded_file_gets_the_usual_permissions_not_a_private_temporary_files(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_fetch", lambda url, out, timeout=60.0: out.write(b"abc"))
    dest = tmp_path / "file.gz"
    old_mask = os.umask(0o022)
    try:
        data._download_verified("https://example.invalid/file.gz", str(dest), hashlib.md5(b"abc").hexdigest())
    finally:
        os.umask(old_mask)
    assert dest.stat().st_mode & 0o777 == 0o644  # as open() would make it, not mkstemp's 0600


def test_mnist_download_network_error_leaves_nothing(tmp_path, monkeypatch):
    def failing_fetch(url, out, timeout=60.0):
        out.write(b"partial")
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(data, "_fetch", failing_fetch)
    root = tmp_path / "mnist"
    with pytest.raises(DownloadError, match="no route to host"):
        load_mnist(root, download=True)
    assert os.listdir(root) == []


# --------------------------------------------------------------------------
# DataLoader
# --------------------------------------------------------------------------


def indexed_arrays(n):
    """x[i] and y[i] both encode i, so batches show which samples they hold."""
    y = np.arange(n)
    x = np.repeat(y[:, None] * 10, 3, axis=1)  # (n, 3)
    return x, y


@pytest.mark.parametrize(
    "n, batch_size, drop_last, expected",
    [(10, 3, False, 4), (10, 3, True, 3), (9, 3, False, 3), (9, 3, True, 3), (2, 5, False, 1), (2, 5, True, 0)],
)
def test_loader_len_and_batch_sizes(n, batch_size, drop_last, expected):
    x, y = indexed_arrays(n)
    loader = DataLoader(x, y, batch_size=batch_size, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == expected == len(batches)
    sizes = [len(xb) for xb, _ in batches]
    if drop_last:
        assert all(size == batch_size for size in sizes)
    else:
        assert sum(sizes) == n
        assert all(size == batch_size for size in sizes[:-1])


def test_loader_without_shuffle_keeps_order():
    x, y = indexed_arrays(7)
    batches = list(DataLoader(x, y, batch_size=3))
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in batches]), y)
    np.testing.assert_array_equal(batches[0][0], x[:3])
    assert isinstance(batches[0], tuple)


def test_loader_single_array_yields_one_tuples():
    x = np.arange(5)
    batches = list(DataLoader(x, batch_size=2))
    assert all(isinstance(b, tuple) and len(b) == 1 for b in batches)


def test_loader_shuffle_covers_every_sample_once_per_epoch():
    x, y = indexed_arrays(103)
    loader = DataLoader(x, y, batch_size=10, shuffle=True, seed=3)
    epochs = []
    for _ in range(3):
        ys = []
        for xb, yb in loader:
            np.testing.assert_array_equal(xb[:, 0], yb * 10)  # rows stay aligned
            ys.append(yb)
        order = np.concatenate(ys)
        np.testing.assert_array_equal(np.sort(order), y)
        epochs.append(order)
    assert not np.array_equal(epochs[0], y)  # actually shuffled
    assert not np.array_equal(epochs[0], epochs[1])  # new permutation each epoch


def test_loader_shuffle_with_drop_last_has_no_repeats():
    x, y = indexed_arrays(25)
    loader = DataLoader(x, y, batch_size=4, shuffle=True, seed=0, drop_last=True)
    order = np.concatenate([yb for _, yb in loader])
    assert len(order) == 24
    assert len(np.unique(order)) == 24


def epoch_orders(loader, epochs=2):
    return [np.concatenate([yb for _, yb in loader]) for _ in range(epochs)]


def test_loader_same_seed_same_batches():
    x, y = indexed_arrays(50)
    a = epoch_orders(DataLoader(x, y, batch_size=8, shuffle=True, seed=42))
    b = epoch_orders(DataLoader(x, y, batch_size=8, shuffle=True, seed=42))
    c = epoch_orders(DataLoader(x, y, batch_size=8, shuffle=True, seed=43))
    for ea, eb in zip(a, b, strict=True):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(a[0], c[0])


def test_loader_without_seed_uses_global_rng():
    x, y = indexed_arrays(50)
    tg.manual_seed(7)
    a = epoch_orders(DataLoader(x, y, batch_size=8, shuffle=True))
    tg.manual_seed(7)
    b = epoch_orders(DataLoader(x, y, batch_size=8, shuffle=True))
    for ea, eb in zip(a, b, strict=True):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(a[0], a[1])


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, "4", True, None])
def test_loader_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(np.arange(10), batch_size=batch_size)


def test_loader_accepts_numpy_int_batch_size():
    assert len(DataLoader(np.arange(10), batch_size=np.int64(5))) == 2


def test_loader_mismatched_lengths():
    with pytest.raises(ValueError, match=r"same length.*\(10, 3\), \(9,\)"):
        DataLoader(np.zeros((10, 3)), np.zeros(9))


def test_loader_needs_arrays():
    with pytest.raises(ValueError, match="at least one array"):
        DataLoader(batch_size=4)


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"seed": -1}, ValueError, "DataLoader: seed must be None or an int >= 0, got -1"),
        ({"seed": 1.5}, TypeError, "DataLoader: seed must be None or an int >= 0, got float 1.5"),
        ({"seed": "0"}, TypeError, "DataLoader: seed must be None or an int >= 0, got str '0'"),
        ({"seed": True}, TypeError, "DataLoader: seed .* got bool True"),
        ({"shuffle": "yes"}, TypeError, "DataLoader: shuffle must be True or False, got str 'yes'"),
        ({"shuffle": 1}, TypeError, "DataLoader: shuffle must be True or False, got int 1"),
        ({"drop_last": None}, TypeError, "DataLoader: drop_last must be True or False, got NoneType"),
    ],
)
def test_loader_bad_options_name_the_argument(options, error, message):
    with pytest.raises(error, match=message):
        DataLoader(np.arange(10), **options)


def test_loader_accepts_numpy_seeds_and_flags():
    loader = DataLoader(np.arange(10), batch_size=4, shuffle=np.bool_(True), seed=np.int64(7), drop_last=np.bool_(0))
    assert sorted(np.concatenate([b for (b,) in loader]).tolist()) == list(range(10))


def test_loader_ragged_list_names_the_argument():
    with pytest.raises(ValueError, match=r"DataLoader: argument 1 \(list\) cannot be made into an array"):
        DataLoader(np.zeros((2, 3)), [[1, 2], [3]])


# --------------------------------------------------------------------------
# Datasets: PyTorch's protocol, len(dataset) and dataset[i]
# --------------------------------------------------------------------------


class Squares(Dataset):
    """Sample i is (a float32 vector [i, -i], the label i * i). Reading past
    the end fails loudly (the loader must stop at len(), not at IndexError)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def checked(self, i):
        if not 0 <= i < self.n:
            raise RuntimeError(f"read sample {i} of {self.n}")
        return i

    def __getitem__(self, i):
        i = self.checked(i)
        return np.array([i, -i], dtype=np.float32), i * i


class Endless:
    """Not a Dataset subclass: __len__ and a __getitem__ that never raises
    IndexError (numpy would read it forever). Fails loudly after too many reads."""

    def __init__(self, n):
        self.n = n
        self.reads = []

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.reads.append(i)
        if len(self.reads) > 1000:
            raise RuntimeError("read far past len(): the loader does not stop at len()")
        return tg.Tensor(np.full(3, float(i))), np.int64(i)


def test_tensor_dataset_gives_aligned_samples():
    x, y = indexed_arrays(7)
    dataset = TensorDataset(x, y)
    assert len(dataset) == 7
    sample = dataset[4]
    assert isinstance(sample, tuple) and np.array_equal(sample[0], x[4]) and sample[1] == 4
    with pytest.raises(ValueError, match=r"TensorDataset arrays must have the same length.*\(7, 3\), \(6,\)"):
        TensorDataset(x, y[:6])
    with pytest.raises(ValueError, match="TensorDataset needs at least one array"):
        TensorDataset()


def test_loader_over_a_tensor_dataset_equals_the_array_form():
    x, y = indexed_arrays(23)
    from_arrays = DataLoader(x, y, batch_size=5, shuffle=True, seed=4)
    from_dataset = DataLoader(TensorDataset(x, y), batch_size=5, shuffle=True, seed=4)
    for _ in range(2):  # two epochs: the same permutations
        for (xa, ya), (xd, yd) in zip(from_arrays, from_dataset, strict=True):
            assert np.array_equal(xa, xd) and np.array_equal(ya, yd)
    assert from_dataset.arrays[0] is from_dataset.dataset.arrays[0]


def test_loader_stacks_the_samples_of_a_dataset_subclass():
    batches = list(DataLoader(Squares(10), batch_size=4))
    assert [len(yb) for _, yb in batches] == [4, 4, 2]
    xb, yb = batches[1]
    assert xb.dtype == np.float32 and xb.shape == (4, 2)
    assert np.array_equal(xb, [[4, -4], [5, -5], [6, -6], [7, -7]]) and np.array_equal(yb, [16, 25, 36, 49])


def test_loader_reads_a_dataset_only_below_its_length():
    dataset = Endless(10)
    loader = DataLoader(dataset, batch_size=4, shuffle=True, seed=0)
    epoch = list(loader)
    assert len(loader) == 3 and [len(xb) for xb, _ in epoch] == [4, 4, 2]
    assert sorted(dataset.reads) == list(range(10))  # each index once, none past the end
    labels = np.concatenate([yb for _, yb in epoch])
    xs = np.concatenate([xb for xb, _ in epoch])
    assert np.array_equal(xs[:, 0], labels) and xs.shape == (10, 3)
    assert sorted(labels.tolist()) == list(range(10)) and labels.tolist() != list(range(10))  # shuffled


def test_loader_over_an_empty_dataset_yields_nothing():
    assert list(DataLoader(Squares(0))) == [] and len(DataLoader(Squares(0))) == 0


def test_a_dataset_must_be_the_only_positional_argument():
    with pytest.raises(TypeError, match="a dataset must be the only positional argument"):
        DataLoader(Squares(3), np.arange(3))


def test_samples_that_do_not_stack_are_named():
    class Ragged(Squares):
        def __getitem__(self, i):
            i = self.checked(i)
            return np.zeros(i + 1), i

    with pytest.raises(ValueError, match=r"field 0 of dataset\[1\] has shape \(2,\) .* dataset\[0\] has shape \(1,\)"):
        list(DataLoader(Ragged(3)))

    class Uneven(Squares):
        def __getitem__(self, i):
            i = self.checked(i)
            return (np.zeros(2), i) if i == 0 else (np.zeros(2),)

    with pytest.raises(ValueError, match=r"dataset\[1\] has 1 fields but dataset\[0\] has 2"):
        list(DataLoader(Uneven(3)))

    class Dicts(Squares):
        def __getitem__(self, i):
            i = self.checked(i)
            return {"x": np.zeros(2)}

    with pytest.raises(TypeError, match=r"dataset\[0\] returned a dict; a sample must be a tuple"):
        list(DataLoader(Dicts(3)))


def test_a_dataset_whose_len_is_not_a_count_is_refused():
    class Negative(Squares):
        def __len__(self):
            return -1

    class Fractional(Squares):
        def __len__(self):
            return 2.5

    with pytest.raises(TypeError, match="DataLoader: len\\(dataset\\) failed for the Negative: .*>= 0"):
        DataLoader(Negative(3))
    with pytest.raises(TypeError, match="DataLoader: len\\(dataset\\) failed for the Fractional"):
        DataLoader(Fractional(3))


def test_the_dataset_base_class_says_what_to_write():
    with pytest.raises(NotImplementedError, match="Dataset must define __len__"):
        len(Dataset())
    with pytest.raises(NotImplementedError, match="Dataset must define __getitem__"):
        Dataset()[0]


def test_single_values_and_tensors_stay_the_array_form():
    (batch,) = list(DataLoader(tg.Tensor(np.arange(3.0)), batch_size=3))
    assert isinstance(batch[0], np.ndarray) and np.array_equal(batch[0], [0, 1, 2])

    class Scalars(Squares):
        def __getitem__(self, i):
            return float(self.checked(i))

    assert [b[0].tolist() for b in DataLoader(Scalars(3), batch_size=2)] == [[0.0, 1.0], [2.0]]


@given(
    n=st.integers(0, 40),
    batch_size=st.integers(1, 12),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    seed=st.integers(0, 2**32),
)
def test_a_dataset_object_batches_as_its_arrays_do(n, batch_size, shuffle, drop_last, seed):
    # The same samples behind the protocol (read one by one) and as arrays
    # (gathered at once): the same batches, epoch after epoch.
    x, y = indexed_arrays(n)
    options = {"batch_size": batch_size, "shuffle": shuffle, "drop_last": drop_last, "seed": seed}

    class Indexed(Squares):
        def __getitem__(self, i):
            return x[self.checked(i)], y[i]

    from_arrays = DataLoader(x, y, **options)
    from_dataset = DataLoader(Indexed(n), **options)
    assert len(from_arrays) == len(from_dataset)
    for _ in range(2):
        seen = []
        for (xa, ya), (xd, yd) in zip(from_arrays, from_dataset, strict=True):
            assert np.array_equal(xa, xd) and np.array_equal(ya, yd) and xd.dtype == xa.dtype
            seen.extend(yd.tolist())
        assert len(seen) == len(set(seen)) == (n // batch_size * batch_size if drop_last else n)


def test_pytorch_names_are_there():
    assert tg.data.Dataset is Dataset and tg.data.TensorDataset is TensorDataset
    assert issubclass(TensorDataset, Dataset)


# --------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------


def test_to_float_images():
    x = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)  # (1, 2, 2)
    images = to_float_images(x)
    assert images.shape == (1, 1, 2, 2)
    assert images.dtype == np.float32
    np.testing.assert_allclose(images[0, 0], [[0.0, 1.0], [0.2, 0.4]], rtol=1e-6)
    assert to_float_images(x, dtype=np.float64).dtype == np.float64


def test_to_float_images_keeps_channel_axis():
    x = np.zeros((2, 3, 4, 4), dtype=np.uint8)
    assert to_float_images(x).shape == (2, 3, 4, 4)


def test_to_float_images_rejects_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        to_float_images(np.zeros((1, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        to_float_images(np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(TypeError, match="float"):
        to_float_images(np.zeros((1, 2, 2), dtype=np.uint8), dtype=np.int32)


def test_normalize():
    x = np.array([0.0, 0.5, 1.0], dtype=np.float32)
    out = normalize(x, 0.5, 0.25)
    np.testing.assert_allclose(out, [-2.0, 0.0, 2.0])
    assert out.dtype == np.float32
    assert x[0] == 0.0  # input untouched


def test_normalize_per_channel():
    x = np.ones((2, 3, 1, 1), dtype=np.float32)
    mean = np.array([0.0, 0.5, 1.0]).reshape(1, 3, 1, 1)
    out = normalize(x, mean, 0.5)
    np.testing.assert_allclose(out[0, :, 0, 0], [2.0, 1.0, 0.0])


def test_normalize_rejects_bad_input():
    with pytest.raises(TypeError, match="to_float_images"):
        normalize(np.zeros(3, dtype=np.uint8), 0.1, 0.3)
    with pytest.raises(ValueError, match="std"):
        normalize(np.zeros(3, dtype=np.float32), 0.1, 0.0)


def test_fashion_pipeline_is_roughly_standardised(fashion):
    x = normalize(to_float_images(fashion[2]), FASHION_MNIST_MEAN, FASHION_MNIST_STD)
    assert x.shape == (10000, 1, 28, 28)
    assert abs(float(x.mean())) < 0.05
    assert abs(float(x.std()) - 1) < 0.05
