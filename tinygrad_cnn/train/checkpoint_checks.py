"""What a checkpoint must hold, checked before a run uses it.

A checkpoint that is readable but wrong (edited by hand, written by another
program, or by a run that diverged) must be refused before any training,
with one line that says what is wrong; never a traceback after an epoch of
work, or a run that trains "epoch -4/2".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import fields
from typing import Any

import numpy as np

from .. import optim
from ..command_line import plural
from ..creation import get_rng
from .config import TrainConfig, is_int, is_number
from .errors import TrainingError
from .metrics import METRICS_COLUMNS

CHECKPOINT_FORMAT = "tinygrad_cnn checkpoint 1"
META_KEYS = ("epoch", "config", "history", "rng_state", "optimizer")

# Error messages quote at most this many characters of a value or of an
# exception's text, so that junk in a file cannot make them long.
MAX_QUOTE = 200


class CheckpointProblem(Exception):
    """One thing wrong with a checkpoint's contents (the message says what)."""


def one_line(error: BaseException | str) -> str:
    """An exception (or text) as one short line: type and message, newlines removed."""
    if isinstance(error, BaseException):
        text = f"{type(error).__name__}: {error}"
    else:
        text = error
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTE else text[:MAX_QUOTE] + "..."


def _quote(value: Any) -> str:
    return one_line(repr(value))


def check_meta(meta: Any) -> None:
    """Raise CheckpointProblem unless `meta` (the decoded JSON) is a checkpoint's metadata."""
    if not isinstance(meta, dict):
        raise CheckpointProblem(f"its metadata is a {type(meta).__name__}, not a JSON object")
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointProblem(f"format {_quote(meta.get('format'))}, expected {CHECKPOINT_FORMAT!r}")
    missing = [key for key in META_KEYS if key not in meta]
    if missing:
        raise CheckpointProblem(f"its metadata has no {', '.join(missing)}")
    epoch = meta["epoch"]
    if not is_int(epoch) or epoch < 1:
        raise CheckpointProblem(f"the epoch must be an integer >= 1, got {_quote(epoch)}")
    config = _check_config(meta["config"])
    if epoch > config.epochs:
        raise CheckpointProblem(f"it says epoch {epoch} of a run of {plural(config.epochs, 'epoch')}")
    _check_history(meta["history"], epoch)
    _check_rng_state(meta["rng_state"])


def _check_config(saved: Any) -> TrainConfig:
    if not isinstance(saved, dict):
        raise CheckpointProblem(f"the saved settings are a {type(saved).__name__}, not a JSON object")
    missing = [field.name for field in fields(TrainConfig) if field.name not in saved]
    if missing:
        raise CheckpointProblem(f"the saved settings have no {', '.join(missing)}")
    config = TrainConfig.from_dict(saved)
    try:
        config.validate()
    except TrainingError as err:
        raise CheckpointProblem(f"the saved settings are wrong: {one_line(str(err))}") from None
    return config


def _check_history(history: Any, epoch: int) -> None:
    if not isinstance(history, list):
        raise CheckpointProblem(f"the metrics history is a {type(history).__name__}, not a list")
    if len(history) != epoch:
        raise CheckpointProblem(f"the metrics history has {plural(len(history), 'row')} for {plural(epoch, 'epoch')}")
    for i, row in enumerate(history):
        if not isinstance(row, dict):
            raise CheckpointProblem(f"row {i + 1} of the metrics history is a {type(row).__name__}, not an object")
        missing = [column for column in METRICS_COLUMNS if column not in row]
        if missing:
            raise CheckpointProblem(f"row {i + 1} of the metrics history has no {', '.join(missing)}")
        for key, value in row.items():
            if not is_number(value):
                raise CheckpointProblem(f"row {i + 1} of the metrics history has {key} = {_quote(value)}")
        if row["epoch"] != i + 1:
            raise CheckpointProblem(f"row {i + 1} of the metrics history is for epoch {_quote(row['epoch'])}")


def _check_rng_state(state: Any) -> None:
    """The state must be one the library's generator accepts (its bit generator's type)."""
    kind = type(get_rng().bit_generator)
    if not isinstance(state, dict) or state.get("bit_generator") != kind.__name__:
        found = state.get("bit_generator") if isinstance(state, dict) else state
        raise CheckpointProblem(f"the random generator state is not a {kind.__name__} state (found {_quote(found)})")
    try:
        kind().state = state  # a fresh generator of the same kind, to try the state on
    except (TypeError, ValueError, KeyError, OverflowError) as err:
        raise CheckpointProblem(f"the random generator state is damaged ({one_line(err)})") from None


def first_non_finite(value: Any, where: str) -> str | None:
    """The path of the first float array holding nan or inf inside nested dicts/lists, or None."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            return where
        return None
    if isinstance(value, float):
        return where if not math.isfinite(value) else None
    items: Iterable[tuple[Any, Any]]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = first_non_finite(item, f"{where} {key}" if where else str(key))
        if found is not None:
            return found
    return None


def check_optimizer_state(optimizer: optim.Optimizer, saved: Any, name: str) -> None:
    """Raise CheckpointProblem unless `saved` is a state_dict() of an optimizer like this one.

    The hyperparameters of each group and the per-parameter state must have
    the names and kinds of values this optimizer uses: the state of another
    optimizer, a missing moment or a text where a number belongs would
    otherwise fail only at the first step (or train wrongly).
    """
    if not isinstance(saved, dict) or not isinstance(saved.get("state"), dict) \
            or not isinstance(saved.get("param_groups"), list):
        raise CheckpointProblem("it is not a dict with 'state' and 'param_groups'")
    if len(saved["param_groups"]) != len(optimizer.param_groups):
        raise CheckpointProblem(f"{len(saved['param_groups'])} parameter groups, "
                                f"expected {len(optimizer.param_groups)}")
    by_index = {}
    for g, (saved_group, group) in enumerate(zip(saved["param_groups"], optimizer.param_groups)):
        _check_group(g, saved_group, group, name)
        if len(saved_group["params"]) != len(group["params"]):
            raise CheckpointProblem(f"group {g} has {plural(len(saved_group['params']), 'parameter')}, "
                                    f"expected {len(group['params'])}")
        settings = {**group, **{key: value for key, value in saved_group.items() if key != "params"}}
        for index, param in zip(saved_group["params"], group["params"]):
            by_index[index] = (param, settings)
    for index, state in saved["state"].items():
        if index not in by_index:
            raise CheckpointProblem(f"state for unknown parameter index {_quote(index)}")
        param, settings = by_index[index]
        _check_param_state(index, state, optimizer._init_state(param, settings), param.data, name)


def _check_group(g: int, saved: Any, group: dict[str, Any], name: str) -> None:
    if not isinstance(saved, dict) or not isinstance(saved.get("params"), list) \
            or not all(is_int(index) for index in saved["params"]):
        raise CheckpointProblem(f"parameter group {g} is not a dict with a list of parameter indices")
    expected = set(group) - {"params", "initial_lr"}
    found = set(saved) - {"params", "initial_lr"}
    if found != expected:
        missing = ", ".join(sorted(expected - found)) or "nothing"
        extra = ", ".join(sorted(found - expected)) or "nothing"
        raise CheckpointProblem(f"parameter group {g} lacks {missing} and has {extra} that {name} does not have "
                                "(is it the state of another optimizer?)")
    for key in sorted(expected):
        if not _same_kind(saved[key], group[key]):
            raise CheckpointProblem(f"parameter group {g} has {key} = {_quote(saved[key])}, "
                                    f"expected a value like {group[key]!r}")


def _same_kind(saved: Any, fresh: Any) -> bool:
    """A saved hyperparameter has the kind of value the fresh optimizer has (finite numbers)."""
    if isinstance(fresh, bool):
        return isinstance(saved, bool)
    if is_number(fresh):
        return is_number(saved) and math.isfinite(saved)
    if isinstance(fresh, tuple):
        return isinstance(saved, tuple) and len(saved) == len(fresh) \
            and all(_same_kind(s, f) for s, f in zip(saved, fresh))
    return True


def _check_param_state(index: Any, state: Any, fresh: dict[str, Any], param: np.ndarray, name: str) -> None:
    """Each saved entry is what `name` keeps for this parameter: arrays of its shape and dtype
    (a resumed run must compute in the same precision to continue bit for bit), counts, numbers."""
    where = f"the state of parameter {index}"
    if not isinstance(state, dict):
        raise CheckpointProblem(f"{where} is a {type(state).__name__}, not a dict")
    if set(state) != set(fresh):
        raise CheckpointProblem(f"{where} has {', '.join(sorted(map(str, state))) or 'nothing'}; "
                                f"{name} keeps {', '.join(sorted(fresh))}")
    for key, reference in fresh.items():
        value = state[key]
        if isinstance(reference, np.ndarray) or reference is None:
            ok = isinstance(value, np.ndarray) and value.shape == param.shape and value.dtype == param.dtype
            ok = ok or (reference is None and value is None)
        elif is_int(reference):
            ok = is_int(value) and value >= 0
        else:
            ok = _same_kind(value, reference)
        if not ok:
            shown = f"a {value.dtype} array of shape {value.shape}" if isinstance(value, np.ndarray) else _quote(value)
            raise CheckpointProblem(f"{where} has {key} = {shown} (the parameter is {param.dtype} of shape "
                                    f"{param.shape})")
