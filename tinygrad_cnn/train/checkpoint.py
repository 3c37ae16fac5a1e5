"""Checkpoints: everything needed to continue a run, in one .npz file."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .. import optim
from ..atomic import atomic_write
from ..creation import get_rng
from ..nn import Module
from ..tensor import Tensor
from .checkpoint_checks import (
    CHECKPOINT_FORMAT,
    CheckpointProblem,
    check_meta,
    check_optimizer_state,
    first_non_finite,
    one_line,
)
from .config import TrainConfig
from .errors import TrainingError

CHECKPOINT_NAME = "checkpoint.npz"

# A checkpoint is one .npz file (numpy's zip of arrays), readable without
# pickle. Arrays are stored as entries "model/<name>" and "optimizer/<i>";
# everything else (settings, epoch, metrics, the optimizer's structure and the
# generator state) goes into one JSON string stored as the entry "meta".


def _encode(value: Any, arrays: dict[str, np.ndarray], prefix: str) -> Any:
    """Turn nested dicts/lists of arrays and numbers into JSON, moving arrays into `arrays`."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray):
        key = f"{prefix}/{len(arrays)}"
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, dict):
        # Keys may be ints (parameter indices), which JSON objects cannot keep.
        return {"__dict__": [[_encode(k, arrays, prefix), _encode(v, arrays, prefix)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(item, arrays, prefix) for item in value]}
    if isinstance(value, list):
        return [_encode(item, arrays, prefix) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"checkpoint: cannot save a value of type {type(value).__name__}")


def _decode(value: Any, arrays: Any) -> Any:
    """The inverse of _encode."""
    if isinstance(value, list):
        return [_decode(item, arrays) for item in value]
    if isinstance(value, dict):
        if "__array__" in value:
            return np.array(arrays[value["__array__"]])
        if "__tuple__" in value:
            return tuple(_decode(item, arrays) for item in value["__tuple__"])
        if "__dict__" in value:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in value["__dict__"]}
    return value


def save_checkpoint(path: str, model: Module, optimizer: optim.Optimizer, epoch: int,
                    config: TrainConfig, history: list[dict[str, float]]) -> None:
    """Write a checkpoint atomically: a crash mid-write leaves the old file intact.

    The data goes to a temporary file in the same directory, which is then
    renamed over `path` with os.replace (atomic on POSIX and Windows when both
    are on the same file system: readers see the old file or the new one,
    never half of one).
    """
    arrays: dict[str, np.ndarray] = {}
    for name, value in model.state_dict().items():
        arrays[f"model/{name}"] = np.asarray(value)
    meta = {
        "format": CHECKPOINT_FORMAT,
        "epoch": epoch,
        "config": asdict(config),
        "history": history,
        "rng_state": get_rng().bit_generator.state,
        "optimizer": _encode(optimizer.state_dict(), arrays, "optimizer"),
    }
    arrays["meta"] = np.array(json.dumps(meta))
    # Numbers and strings only: np.load reads the file back without pickle, so it is written without it too.
    atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **arrays))


@dataclass
class Checkpoint:
    """What load_checkpoint reads back."""

    model_state: dict[str, np.ndarray]
    optimizer_state: Any
    epoch: int
    config: TrainConfig
    history: list[dict[str, float]]
    rng_state: dict[str, Any]


def load_checkpoint(path: str) -> Checkpoint:
    """Read and check a checkpoint written by save_checkpoint.

    TrainingError (one line) if the file is missing, is not a readable
    checkpoint (empty, truncated, corrupted: the zip's CRC-32 checks catch
    changed bytes), or holds metadata that cannot be right (see
    checkpoint_checks.check_meta).
    """
    if not os.path.isfile(path):
        raise TrainingError(f"checkpoint not found: {path}")
    try:
        arrays, meta = _read_archive(path)
    except Exception as err:  # any failure to parse a damaged file means the same to the user
        raise TrainingError(f"{path} is not a readable tinygrad_cnn checkpoint ({one_line(err)})") from None
    try:
        check_meta(meta)
        optimizer_state = _decode(meta["optimizer"], arrays)
    except (CheckpointProblem, KeyError, TypeError, ValueError) as err:
        problem = str(err) if isinstance(err, CheckpointProblem) else one_line(err)
        raise TrainingError(f"{path} is not a valid tinygrad_cnn checkpoint: {problem}") from None
    model_state = {key[len("model/"):]: value for key, value in arrays.items() if key.startswith("model/")}
    non_finite = first_non_finite(model_state, "model") or first_non_finite(optimizer_state, "optimizer state")
    if non_finite is not None:
        raise TrainingError(f"{path} holds non-finite values ({non_finite}): it comes from a run that diverged")
    return Checkpoint(
        model_state=model_state,
        optimizer_state=optimizer_state,
        epoch=meta["epoch"],
        config=TrainConfig.from_dict(meta["config"]),
        history=[dict(row) for row in meta["history"]],
        rng_state=meta["rng_state"],
    )


def _read_archive(path: str) -> tuple[dict[str, np.ndarray], Any]:
    """All arrays of the .npz file, and its decoded "meta" entry."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    return arrays, json.loads(str(arrays["meta"]))


def load_model_state(model: Module, state: dict[str, np.ndarray], model_name: str, path: str) -> None:
    """Copy a checkpoint's weights into the model; a TrainingError names every mismatch."""
    try:
        model.load_state_dict(state)
    except (ValueError, KeyError, RuntimeError, TypeError) as err:
        # Flatten load_state_dict's multi-line message into one line.
        details = "; ".join(line.strip() for line in str(err).splitlines()[1:]) or str(err)
        raise TrainingError(f"{path} does not fit model {model_name!r}: {details}") from None


def restore(checkpoint: Checkpoint, path: str, model: Module, optimizer: optim.Optimizer) -> None:
    """Put the model, the optimizer and the library generator back in the checkpoint's state.

    Everything is checked before the run trains a single step: the weights fit
    the model, the optimizer state fits the optimizer of the saved settings.
    """
    load_model_state(model, checkpoint.model_state, checkpoint.config.model, path)
    try:
        check_optimizer_state(optimizer, checkpoint.optimizer_state, checkpoint.config.optimizer)
        optimizer.load_state_dict(checkpoint.optimizer_state)
    except (CheckpointProblem, ValueError, KeyError, TypeError, AttributeError) as err:
        raise TrainingError(f"{path}: cannot restore the optimizer state ({one_line(err)})") from None
    # The shuffling of the next epochs and the dropout masks come from this generator.
    get_rng().bit_generator.state = checkpoint.rng_state
