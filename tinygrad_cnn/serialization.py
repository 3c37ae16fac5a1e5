"""Saving and loading tensors and state dicts: `save(obj, path)` and `load(path)`.

PyTorch's `torch.save` pickles; pickle files can run code when loaded, so
here the file is a numpy `.npz` archive (a zip of `.npy` arrays) read with
`allow_pickle=False`: it holds numbers only, and numpy can read it without
this library (`np.load(path)`).

    tg.save(model.state_dict(), "lenet.npz")
    model.load_state_dict(tg.load("lenet.npz"))

A file is written atomically: to a temporary file next to it, renamed into
place once complete, so an interrupted save leaves the old file intact.
"""

from __future__ import annotations

import os
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np

from .atomic import atomic_write
from .tensor import Tensor

# Entries of the archive that describe it, besides the arrays themselves.
_FORMAT_KEY = "__tinygrad_cnn_format__"
_KIND_KEY = "__kind__"
_TENSOR_KEYS_KEY = "__tensor_keys__"
_FORMAT = "tinygrad_cnn.save/1"
_SINGLE_TENSOR_KEY = "tensor"


def _as_saved_array(value: Any, where: str) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind in "fiub":
        return np.asarray(value)
    raise TypeError(f"save: {where} must be a Tensor or a numeric numpy array, got {type(value).__name__}")


def save(obj: Tensor | dict[str, Any], path: str | os.PathLike) -> None:
    """Write a Tensor, or a dict from names to Tensors or arrays (a state dict), to `path`.

    Only the values are saved: a loaded tensor is a leaf without gradient
    (set requires_grad again if needed). The folder must exist.
    """
    path = os.fspath(path)
    if isinstance(obj, Tensor):
        arrays = {_SINGLE_TENSOR_KEY: obj.data}
        kind, tensor_keys = "tensor", [_SINGLE_TENSOR_KEY]
    elif isinstance(obj, dict):
        arrays, tensor_keys = {}, []
        for key, value in obj.items():
            if not isinstance(key, str):
                raise TypeError(f"save: the keys of the dict must be strings, got {type(key).__name__} {key!r}")
            if key.startswith("__"):
                raise ValueError(f"save: key {key!r} is reserved (keys starting with '__' describe the file)")
            arrays[key] = _as_saved_array(value, f"the value of {key!r}")
            if isinstance(value, Tensor):
                tensor_keys.append(key)
        kind = "dict"
    else:
        raise TypeError(f"save: expected a Tensor or a dict of tensors (a state dict), got {type(obj).__name__}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: the folder {folder!r} does not exist")
    described = {
        _FORMAT_KEY: np.array(_FORMAT),
        _KIND_KEY: np.array(kind),
        _TENSOR_KEYS_KEY: np.array(tensor_keys, dtype=str),
    }
    atomic_write(path, lambda file: _write_archive(file, {**described, **arrays}))


def _write_archive(file: Any, arrays: dict[str, np.ndarray]) -> None:
    """An .npz archive, as np.savez writes it: one .npy member per array, uncompressed,
    with pickled (object) arrays refused. (np.savez itself would take a key named
    "file" or "allow_pickle" for one of its own arguments.)"""
    with zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, array in arrays.items():
            with archive.open(key + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def load(path: str | os.PathLike) -> Tensor | OrderedDict[str, Any]:
    """Read what `save` wrote: a Tensor, or an ordered dict in the saved order.

    A dict's values come back as they were given: Tensors as Tensors, numpy
    arrays (what `state_dict()` returns) as arrays; `load_state_dict` takes both.
    """
    path = os.fspath(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        if isinstance(error, FileNotFoundError):
            raise FileNotFoundError(f"load: no such file: {path!r}") from None
        raise ValueError(f"load: {path!r} is not a file written by tinygrad_cnn.save (an .npz archive): "
                         f"{error}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"load: {path!r} holds a single .npy array, not a file written by tinygrad_cnn.save; "
                         "read it with np.load")
    with archive:
        if _FORMAT_KEY not in archive.files or str(archive[_FORMAT_KEY]) != _FORMAT:
            raise ValueError(f"load: {path!r} is an .npz archive, but not one written by tinygrad_cnn.save; "
                             "read it with np.load")
        kind = str(archive[_KIND_KEY])
        tensor_keys = set(archive[_TENSOR_KEYS_KEY].tolist())
        described = {_FORMAT_KEY, _KIND_KEY, _TENSOR_KEYS_KEY}
        entries: OrderedDict[str, Any] = OrderedDict(
            (key, Tensor(archive[key]) if key in tensor_keys else archive[key])
            for key in archive.files
            if key not in described
        )
    if kind == "tensor":
        return entries[_SINGLE_TENSOR_KEY]
    return entries
