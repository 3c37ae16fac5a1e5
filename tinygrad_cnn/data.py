"""Datasets, batching and normalisation.

This module has everything needed to feed images to a CNN:

* ``read_idx`` / ``write_idx``: the IDX file format used by MNIST and
  Fashion-MNIST (plain or gzip-compressed).
* ``load_fashion_mnist`` and ``load_mnist``: the two classic 28x28 digit /
  clothing datasets, returned as numpy arrays.
* ``Dataset`` and ``TensorDataset``: PyTorch's protocol for a dataset, an
  object with ``len(dataset)`` samples and ``dataset[i]`` the i-th.
* ``DataLoader``: splits aligned arrays (images, labels), or a dataset, into
  mini-batches, optionally shuffled.
* ``to_float_images`` and ``normalize``: turn uint8 pixels into the float
  tensors a network wants.

IDX format
----------
An IDX file is a tiny header followed by the raw array, big-endian::

    byte 0-1   0x00 0x00          always zero
    byte 2     dtype code          0x08 uint8, 0x09 int8, 0x0B int16,
                                   0x0C int32, 0x0D float32, 0x0E float64
    byte 3     ndim                number of dimensions
    then       ndim x uint32       the size of each dimension (big-endian)
    then       the data            prod(dims) values, row-major, big-endian
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import numbers
import os
import struct
import urllib.request
import zlib
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import numpy as np

from .atomic import atomic_write

PathLike = str | os.PathLike[str]

__all__ = [
    "IDXFormatError",
    "ChecksumError",
    "DownloadError",
    "read_idx",
    "write_idx",
    "load_fashion_mnist",
    "load_mnist",
    "Dataset",
    "TensorDataset",
    "DataLoader",
    "to_float_images",
    "normalize",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "MNIST_MEAN",
    "MNIST_STD",
    "MNIST_MIRRORS",
    "MNIST_MD5",
]


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class IDXFormatError(ValueError):
    """A file is not a valid IDX file (corrupt, truncated, wrong header...)."""


class ChecksumError(ValueError):
    """A downloaded file does not have the expected MD5 checksum."""


class DownloadError(RuntimeError):
    """A dataset file could not be downloaded from any mirror."""


# --------------------------------------------------------------------------
# IDX reading and writing
# --------------------------------------------------------------------------

# dtype code (byte 2 of the header) -> big-endian numpy dtype of the data.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# numpy dtype (any byte order) -> dtype code, used when writing.
_IDX_CODES: dict[np.dtype, int] = {dtype.newbyteorder("="): code for code, dtype in _IDX_DTYPES.items()}

# Every gzip stream starts with these two bytes. An IDX file starts with
# 0x00 0x00, so the two can never be confused.
_GZIP_MAGIC = b"\x1f\x8b"


def _describe_idx_dtypes() -> str:
    names = [f"0x{code:02X} {dtype.name}" for code, dtype in _IDX_DTYPES.items()]
    return ", ".join(names)


def _read_file_bytes(path: PathLike) -> bytes:
    """Return the (decompressed) contents of ``path``."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"IDX file not found: {os.fspath(path)}")
    with open(path, "rb") as f:
        raw = f.read()

    # Decide by content, not by file name: a ".gz" file may have been
    # unpacked without renaming, and vice versa.
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as err:
        raise IDXFormatError(f"{os.fspath(path)}: truncated gzip stream ({err})") from err
    except (OSError, zlib.error) as err:
        raise IDXFormatError(f"{os.fspath(path)}: corrupt gzip data ({err})") from err


def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed) into a numpy array.

    The header is checked: magic number, dtype code, number of dimensions,
    and that the data has exactly ``prod(dims)`` values.  The result is a
    fresh, writable array in the machine's native byte order.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        IDXFormatError: the file is truncated, corrupt or not an IDX file.
            The message names the file and what is wrong.
    """
    name = os.fspath(path)
    data = _read_file_bytes(path)

    if len(data) < 4:
        raise IDXFormatError(f"{name}: truncated: expected at least 4 header bytes, found {len(data)}")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise IDXFormatError(
            f"{name}: bad magic number 0x{data[:4].hex()} "
            "(an IDX file starts with 0x00 0x00, then a dtype code and ndim)"
        )
    if code not in _IDX_DTYPES:
        raise IDXFormatError(
            f"{name}: unknown dtype code 0x{code:02X} in the magic number (known codes: {_describe_idx_dtypes()})"
        )
    dtype = _IDX_DTYPES[code]

    # The header continues with one big-endian uint32 per dimension.
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IDXFormatError(
            f"{name}: truncated header: {ndim} dimensions need {header_size} header bytes, found {len(data)}"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header_size])

    expected = math.prod(dims) * dtype.itemsize
    found = len(data) - header_size
    if found < expected:
        raise IDXFormatError(
            f"{name}: truncated: expected {expected} bytes of data, found {found} (header says {dtype.name} {dims})"
        )
    if found > expected:
        raise IDXFormatError(
            f"{name}: trailing data: expected {expected} bytes of data, found {found} "
            f"({found - expected} extra bytes; header says {dtype.name} {dims})"
        )

    array = np.frombuffer(data, dtype=dtype, count=math.prod(dims), offset=header_size)
    # astype makes a writable copy in native byte order (frombuffer gives a
    # read-only view of the bytes object).
    return array.reshape(dims).astype(dtype.newbyteorder("="))


def write_idx(path: PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file; gzip-compressed if ``path`` ends with ``.gz``.

    Supported dtypes: uint8, int8, int16, int32, float32, float64 (IDX has
    no int64: cast labels with ``labels.astype(np.uint8)`` first).
    """
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _IDX_CODES:
        raise TypeError(
            f"cannot write dtype {array.dtype} to IDX; supported: {_describe_idx_dtypes()} (cast the array first)"
        )
    if array.ndim > 255:
        raise ValueError(f"IDX supports at most 255 dimensions, got {array.ndim}")
    if any(size >= 2**32 for size in array.shape):
        raise ValueError(f"IDX dimensions must be < 2**32, got shape {array.shape}")

    code = _IDX_CODES[native]
    header = bytes([0, 0, code, array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    # Big-endian, C (row-major) order, as the format requires.
    payload = np.ascontiguousarray(array, dtype=_IDX_DTYPES[code]).tobytes()
    content = header + payload

    if os.fspath(path).endswith(".gz"):
        # mtime=0 makes the output identical for identical input.
        content = gzip.compress(content, mtime=0)
    with open(path, "wb") as f:
        f.write(content)


# --------------------------------------------------------------------------
# MNIST and Fashion-MNIST
# --------------------------------------------------------------------------

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# Mean and standard deviation of all training pixels, scaled to [0, 1].
# (Fashion-MNIST values measured on the training set: 0.28604, 0.35302.)
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

# Both datasets use the same four file names (without the .gz suffix).
_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# Where load_mnist(download=True) fetches the files, tried in order.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# MD5 checksums of the four gzip files, to check downloads.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

_NUM_CLASSES = 10

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _idx_file_path(root: str, base: str) -> str:
    """The path of ``base.gz`` in ``root`` if that file exists, else the path of ``base`` (which may not)."""
    compressed = os.path.join(root, base + ".gz")
    return compressed if os.path.isfile(compressed) else os.path.join(root, base)


def _missing_files(root: str) -> list[str]:
    return [base for base in _IDX_FILES if not os.path.isfile(_idx_file_path(root, base))]


def _load_pair(images_path: str, labels_path: str) -> tuple[np.ndarray, np.ndarray]:
    """Load one (images, labels) pair and check that they fit together."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise IDXFormatError(
            f"{images_path}: expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1:
        raise IDXFormatError(f"{labels_path}: expected labels of shape (N,), got {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    labels = labels.astype(np.int64)
    if len(labels) > 0 and (labels.min() < 0 or labels.max() >= _NUM_CLASSES):
        raise ValueError(
            f"{labels_path}: labels must be in 0..{_NUM_CLASSES - 1}, found range {labels.min()}..{labels.max()}"
        )
    return images, labels


def _load_idx_dataset(root: str) -> Split:
    paths = [_idx_file_path(root, base) for base in _IDX_FILES]
    train_images, train_labels, test_images, test_labels = paths
    x_train, y_train = _load_pair(train_images, train_labels)
    x_test, y_test = _load_pair(test_images, test_labels)
    return x_train, y_train, x_test, y_test


def load_fashion_mnist(root: PathLike | None = None) -> Split:
    """Load Fashion-MNIST as ``(x_train, y_train, x_test, y_test)``.

    Images are uint8 arrays of shape (N, 28, 28) with values 0..255, labels
    are int64 arrays of shape (N,) with values 0..9 (see
    ``FASHION_MNIST_CLASSES``). There are 60000 training and 10000 test
    images.

    Args:
        root: directory holding the four IDX files (gzip-compressed or not).
            Defaults to ``/usr/share/datasets/fashion-mnist``, where the
            Debian package ``dataset-fashion-mnist`` installs them.
    """
    root = os.fspath(FASHION_MNIST_DIR if root is None else root)
    missing = _missing_files(root)
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST not found in {root} (missing: "
            f"{', '.join(name + '[.gz]' for name in missing)}); install it with "
            "`apt-get install dataset-fashion-mnist` or pass root=..."
        )
    return _load_idx_dataset(root)


def _fetch(url: str, out: BinaryIO, timeout: float = 60.0) -> None:
    """Stream the contents of ``url`` into the open binary file ``out``."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        while True:
            chunk = response.read(1 << 16)
            if not chunk:
                break
            out.write(chunk)


def _download_verified(url: str, dest: str, md5: str) -> None:
    """Download ``url`` to ``dest`` if its MD5 matches; leave nothing otherwise.

    The data goes to a temporary file next to ``dest`` (``atomic_write``), and
    is renamed to ``dest`` only once the checksum is right, so an interrupted
    or bad download never leaves a broken file.
    """

    def fetch_and_check(tmp: BinaryIO) -> None:
        _fetch(url, tmp)
        tmp.seek(0)
        digest = hashlib.md5()
        for chunk in iter(lambda: tmp.read(1 << 16), b""):
            digest.update(chunk)
        if digest.hexdigest() != md5:
            raise ChecksumError(f"checksum mismatch for {url}: expected md5 {md5}, got {digest.hexdigest()}")

    atomic_write(dest, fetch_and_check, mode="w+b")


def _download_mnist_file(root: str, filename: str) -> None:
    """Fetch one MNIST file into ``root``, trying each mirror in turn."""
    failures = []
    for mirror in MNIST_MIRRORS:
        url = mirror + filename
        try:
            _download_verified(url, os.path.join(root, filename), MNIST_MD5[filename])
            return
        except (OSError, ChecksumError, http.client.HTTPException) as err:
            failures.append(f"  {url}: {err}")
    raise DownloadError(f"could not download {filename} into {root}:\n" + "\n".join(failures))


def load_mnist(root: PathLike, download: bool = False) -> Split:
    """Load classic MNIST digits as ``(x_train, y_train, x_test, y_test)``.

    Same layout as ``load_fashion_mnist``: uint8 images (N, 28, 28) and
    int64 labels (N,) in 0..9, 60000 for training and 10000 for testing.

    Args:
        root: directory with the four MNIST IDX files (``.gz`` or not).
        download: if True, fetch missing files from ``MNIST_MIRRORS`` into
            ``root`` (created if needed), checking each file's MD5.
    """
    root = os.fspath(root)
    if download:
        os.makedirs(root, exist_ok=True)
        for base in _missing_files(root):
            _download_mnist_file(root, base + ".gz")

    missing = _missing_files(root)
    if missing:
        raise FileNotFoundError(
            f"MNIST not found in {root} (missing: "
            f"{', '.join(name + '[.gz]' for name in missing)}); pass download=True "
            "to fetch it, or copy the four MNIST files there"
        )
    return _load_idx_dataset(root)


# --------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------


class Dataset:
    """A dataset as PyTorch defines one: ``len(dataset)`` samples, and
    ``dataset[i]`` the i-th sample for ``i`` in ``range(len(dataset))``.

    A sample is usually a tuple ``(input, target)``; a single array works
    too. Subclass this class and write both methods, as in PyTorch::

        class Squares(Dataset):
            def __len__(self):
                return 100

            def __getitem__(self, i):
                return np.array([i], dtype=np.float32), i * i

    ``DataLoader`` also takes any other object with these two methods. It
    asks for indices below ``len(dataset)`` only, so ``__getitem__`` need
    not raise IndexError past the end.
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__ (the number of samples)")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__ (the sample at an index)")


def _aligned_arrays(arrays: tuple[Any, ...], op: str) -> tuple[np.ndarray, ...]:
    """The arguments as numpy arrays of one length (first dimension), or a clear error."""
    if not arrays:
        raise ValueError(f"{op} needs at least one array")
    converted = []
    for position, array in enumerate(arrays):
        try:
            converted.append(np.asarray(array))
        except (ValueError, TypeError) as error:  # a ragged list
            raise ValueError(
                f"{op}: argument {position} ({type(array).__name__}) cannot be made into an array: {error}"
            ) from None
    if any(a.ndim == 0 for a in converted):
        raise ValueError(f"{op} arrays must have at least one dimension")
    lengths = {len(a) for a in converted}
    if len(lengths) != 1:
        shapes = ", ".join(str(a.shape) for a in converted)
        raise ValueError(f"{op} arrays must have the same length (first dimension), got shapes {shapes}")
    return tuple(converted)


class TensorDataset(Dataset):
    """Samples taken from aligned arrays (or tensors): ``dataset[i]`` is
    ``(arrays[0][i], arrays[1][i], ...)``.

    ``TensorDataset(x_train, y_train)`` is what ``DataLoader(x_train,
    y_train)`` batches; the loader gathers a whole batch from the arrays at
    once, not sample by sample.
    """

    def __init__(self, *arrays: Any) -> None:
        self.arrays = _aligned_arrays(arrays, "TensorDataset")

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        return tuple(a[index] for a in self.arrays)


def _is_dataset(value: Any) -> bool:
    """A dataset object, not an array: a Dataset, or any object with __len__
    and __getitem__ that numpy would not read as an array. (numpy reads such
    an object as a sequence, calling __getitem__ until IndexError, which for
    many datasets never comes.)"""
    if isinstance(value, Dataset):
        return True
    if isinstance(value, (np.ndarray, list, tuple, str, bytes)) or hasattr(value, "__array__"):
        return False
    return hasattr(type(value), "__len__") and hasattr(type(value), "__getitem__")


def _fields(sample: Any, index: int) -> tuple[Any, ...]:
    """The fields of one sample: (input, target) for a tuple, (array,) for a single value."""
    if isinstance(sample, (tuple, list)):
        return tuple(sample)
    if sample is None or isinstance(sample, (dict, str, bytes)):
        raise TypeError(
            f"DataLoader: dataset[{index}] returned a {type(sample).__name__}; a sample must be a tuple "
            "such as (input, target), or a single array or number"
        )
    return (sample,)


def _collate(samples: list[Any], indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, ...]:
    """One batch from a list of samples: each field stacked along a new first axis."""
    rows = [_fields(sample, int(i)) for sample, i in zip(samples, indices)]
    width = len(rows[0])
    batch = []
    for field in range(width):
        values = []
        for row, i in zip(rows, indices):
            if len(row) != width:
                raise ValueError(
                    f"DataLoader: dataset[{i}] has {len(row)} fields but dataset[{indices[0]}] has {width}"
                )
            values.append(np.asarray(row[field]))
        first = values[0]
        for value, i in zip(values, indices):
            if value.shape != first.shape:
                raise ValueError(
                    f"DataLoader: field {field} of dataset[{i}] has shape {value.shape} but that of "
                    f"dataset[{indices[0]}] has shape {first.shape}; the samples of a batch must have one shape"
                )
        batch.append(np.stack(values))
    return tuple(batch)


# --------------------------------------------------------------------------
# Batching
# --------------------------------------------------------------------------


def _check_loader_options(batch_size: Any, shuffle: Any, seed: Any, drop_last: Any) -> None:
    # bool is a subclass of int, but batch_size=True is surely a mistake.
    is_int = isinstance(batch_size, (int, np.integer)) and not isinstance(batch_size, bool)
    if not is_int or batch_size <= 0:
        raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
    for name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"DataLoader: {name} must be True or False, got {type(flag).__name__} {flag!r}")
    if seed is not None:
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"DataLoader: seed must be None or an int >= 0, got {type(seed).__name__} {seed!r}")
        if seed < 0:
            raise ValueError(f"DataLoader: seed must be None or an int >= 0, got {seed}")


class DataLoader:
    """Iterate over aligned arrays, or over a dataset, in mini-batches.

    Example::

        loader = DataLoader(x_train, y_train, batch_size=128, shuffle=True, seed=0)
        for epoch in range(3):
            for xb, yb in loader:   # xb: (<=128, ...), yb: (<=128,)
                ...

        loader = DataLoader(my_dataset, batch_size=128)   # len() and [i]: a Dataset

    Each iteration (epoch) visits every sample exactly once. With
    ``shuffle=True`` the order is a new random permutation each epoch,
    drawn from a ``np.random.Generator`` seeded with ``seed``, so two
    loaders with the same seed give the same batches. With ``seed=None`` the
    permutation comes from the library's global generator (set it with
    ``manual_seed``).

    Batches are always tuples of numpy arrays, one entry per array (or per
    field of the dataset's samples), even for a single array:
    ``for (xb,) in DataLoader(x)``. From arrays (or a ``TensorDataset``),
    the batches are views (slices) without shuffling and copies with it;
    from another dataset, the samples ``dataset[i]`` of a batch are stacked.

    Args:
        *arrays: numpy arrays (or lists, or tensors) with the same first
            dimension; or a single dataset (see ``Dataset``).
        batch_size: number of samples per batch (a positive int).
        shuffle: shuffle the samples at the start of every epoch.
        seed: seed of the shuffling generator (an int >= 0); None uses the global one.
        drop_last: skip the last batch if it is smaller than ``batch_size``.
    """

    def __init__(
        self,
        *arrays: Any,
        batch_size: int = 64,
        shuffle: bool = False,
        seed: int | None = None,
        drop_last: bool = False,
    ) -> None:
        if len(arrays) == 1 and _is_dataset(arrays[0]):
            self.dataset = arrays[0]
        elif any(_is_dataset(a) for a in arrays):
            raise TypeError("DataLoader: a dataset must be the only positional argument (or pass arrays only)")
        else:
            self.dataset = TensorDataset(*_aligned_arrays(arrays, "DataLoader"))
        _check_loader_options(batch_size, shuffle, seed, drop_last)
        try:
            # len() itself checks that __len__ returns an int >= 0.
            self.num_samples = len(self.dataset)
        except (TypeError, ValueError) as error:
            raise TypeError(f"DataLoader: len(dataset) failed for the {type(self.dataset).__name__}: {error}") from None
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.drop_last = bool(drop_last)
        # One generator for the loader's lifetime: each epoch draws the next
        # permutation from it, so epochs differ but runs are reproducible.
        self._rng = np.random.default_rng(seed) if seed is not None else None

    @property
    def arrays(self) -> tuple[np.ndarray, ...] | None:
        """The arrays batched (those of a TensorDataset), or None for another dataset."""
        return self.dataset.arrays if isinstance(self.dataset, TensorDataset) else None

    def __len__(self) -> int:
        """Number of batches per epoch."""
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def _permutation(self) -> np.ndarray:
        if self._rng is not None:
            return self._rng.permutation(self.num_samples)
        # Imported here, not at the top, so this module has no import-time
        # dependency on the rest of the package.
        from .creation import get_rng

        return get_rng().permutation(self.num_samples)

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        order = self._permutation() if self.shuffle else None
        arrays = self.arrays
        for i in range(len(self)):
            start = i * self.batch_size
            stop = min(start + self.batch_size, self.num_samples)
            index = range(start, stop) if order is None else order[start:stop]
            if arrays is None:
                # Sample by sample, only at indices below len(dataset).
                yield _collate([self.dataset[int(k)] for k in index], index)
            elif order is None:
                yield tuple(a[start:stop] for a in arrays)
            else:
                # Fancy indexing: one vectorised gather per array and batch.
                yield tuple(a[index] for a in arrays)


# --------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------


def to_float_images(x: np.ndarray, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """Convert uint8 images (N, H, W) to floats in [0, 1] of shape (N, 1, H, W).

    Images that already have a channel axis, (N, C, H, W), keep their shape.
    """
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise TypeError(f"to_float_images expects uint8 pixels, got {x.dtype}")
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"dtype must be a float type, got {np.dtype(dtype)}")
    if x.ndim == 3:
        x = x[:, np.newaxis, :, :]  # add the channel axis: (N, 1, H, W)
    elif x.ndim != 4:
        raise ValueError(f"to_float_images expects shape (N, H, W) or (N, C, H, W), got {x.shape}")
    images = x.astype(dtype)
    images /= 255
    return images


def normalize(
    x: np.ndarray,
    mean: float | Sequence[float] | np.ndarray,
    std: float | Sequence[float] | np.ndarray,
) -> np.ndarray:
    """Return ``(x - mean) / std``, keeping the float dtype of ``x``.

    ``mean`` and ``std`` are usually scalars (e.g. ``FASHION_MNIST_MEAN``);
    arrays that broadcast against ``x`` work too. A new array is returned.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"normalize expects float data, got {x.dtype} (convert uint8 images with to_float_images first)"
        )
    mean = np.asarray(mean, dtype=x.dtype)
    std = np.asarray(std, dtype=x.dtype)
    if np.any(std <= 0):
        raise ValueError(f"std must be positive, got {std}")
    return (x - mean) / std
