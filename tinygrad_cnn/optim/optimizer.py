"""The `Optimizer` base class: parameter groups, the step loop, saving and loading.

An optimizer holds the parameters to train in *parameter groups*: lists of
parameters that share hyperparameters (a group can have its own lr, say for
a pretrained backbone). `step()` reads each parameter's `.grad` and updates
its `.data` in place; what an update is belongs to the subclass
(`_update`). Anything an optimizer remembers between steps (momentum
buffers, Adam's moments, step counts) is kept per parameter in `self.state`.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..float_errors import quiet_region
from ..grad_mode import enable_grad, no_grad
from ..tensor import Tensor, bump_version


def as_float_hyperparameter(value: Any, op: str, name: str, *, positive: bool = False,
                              below_one: bool = False, at_most_one: bool = False) -> float:
    """A hyperparameter as a Python float, checked: a finite, non-negative number
    (positive, or below 1, or at most 1, when asked). numpy scalars are accepted;
    strings and bools are a TypeError, nan, inf and out-of-range values a ValueError."""
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{op}: {name} must be finite, got {value}")
    if below_one and not 0 <= value < 1:
        raise ValueError(f"{op}: {name} must be in [0, 1), got {value}")
    if at_most_one and not 0 <= value <= 1:
        raise ValueError(f"{op}: {name} must be in [0, 1], got {value}")
    if positive and not value > 0:
        raise ValueError(f"{op}: {name} must be positive, got {value}")
    if value < 0:
        raise ValueError(f"{op}: {name} must be non-negative, got {value}")
    return value


def as_flag(value: Any, op: str, name: str) -> bool:
    """A yes/no setting (nesterov, amsgrad, ...): a bool, not a string such as "False"."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def _refuse_set(params: Any, op: str, where: str) -> None:
    """Parameters must come in a fixed order, as in PyTorch: the saved state
    (state_dict) names each parameter by its position."""
    if isinstance(params, (set, frozenset)):
        raise TypeError(
            f"{op}: {where} is a {type(params).__name__}; give the parameters in a list or another ordered "
            "collection (model.parameters() is one): the order of a set changes from run to run, and a saved "
            "optimizer state would be loaded into the wrong parameters"
        )


def _parameter_index(key: Any, op: str) -> int:
    """A key of a saved state: the position of a parameter (an int; digits in a str are
    accepted too, for files that store keys as text)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
        return int(key)
    if isinstance(key, str) and key.isdecimal():
        return int(key)
    raise TypeError(
        f"{op}.load_state_dict: the keys of 'state' are parameter positions (ints 0, 1, ...); "
        f"got {type(key).__name__} {key!r}"
    )


class Optimizer:
    """Base class of the optimizers.

    `params`: an iterable of Tensors (e.g. `model.parameters()`), or of dicts
    `{"params": [...], "lr": ...}` that each make a parameter group with its
    own settings; settings a group does not give come from `defaults`.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor):
            raise TypeError(
                f"{self._op}: params must be an iterable of Tensors or of dicts, got a single Tensor; "
                "wrap it in a list"
            )
        _refuse_set(params, self._op, "params")
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        # state[param] -> dict of what the optimizer remembers about it.
        # Tensors hash by identity, so each parameter is its own key.
        self.state: dict[Tensor, dict[str, Any]] = {}
        groups = list(params)
        if not groups:
            raise ValueError(f"{self._op}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def _op(self) -> str:
        return type(self).__name__

    # --- parameter groups ---------------------------------------------------

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters, e.g. to unfreeze layers during training."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{self._op}: a parameter group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError(f"{self._op}: a parameter group needs a 'params' entry")
        _refuse_set(params, self._op, "the 'params' of a parameter group")
        params = [params] if isinstance(params, Tensor) else list(params)
        if not params:
            raise ValueError(f"{self._op}: got an empty parameter list")
        for i, param in enumerate(params):
            if not isinstance(param, Tensor):
                raise TypeError(f"{self._op}: params[{i}] is a {type(param).__name__}, not a Tensor")
            if param.dtype.kind != "f":
                raise TypeError(f"{self._op}: params[{i}] has dtype {param.dtype}; only float tensors can be trained")
            if not param.is_leaf:
                raise ValueError(f"{self._op}: params[{i}] is not a leaf tensor (it was computed by an op)")
        seen = {id(p) for other in self.param_groups for p in other["params"]}
        if len({id(p) for p in params}) != len(params) or any(id(p) in seen for p in params):
            raise ValueError(f"{self._op}: a parameter appears more than once in the parameter groups")
        group["params"] = params
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._check_settings(group)
        self.param_groups.append(group)

    def _check_settings(self, group: dict[str, Any]) -> None:
        """Check the hyperparameters of a group, in place: each is converted to a Python
        float (or bool), or a TypeError / ValueError names it. Subclasses check their own."""
        # lr = 0 is allowed, as in PyTorch: a cosine schedule ends there.
        group["lr"] = as_float_hyperparameter(group["lr"], self._op, "lr")
        for name in ("weight_decay", "eps"):
            if name in group:
                group[name] = as_float_hyperparameter(group[name], self._op, name)

    # --- the update ---------------------------------------------------------

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of all parameters (`.grad = None`), before the next backward."""
        for group in self.param_groups:
            for param in group["params"]:
                if set_to_none or param.grad is None:
                    param.grad = None
                else:
                    param.grad.data[...] = 0
                    bump_version(param.grad)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; parameters whose `.grad`
        is None are skipped. `closure`, if given, recomputes and returns the
        loss (it is called first, with gradients on)."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad(), quiet_region():  # a huge gradient squared is inf, silently, as in PyTorch
            for group in self.param_groups:
                for param in group["params"]:
                    if param.grad is None:
                        continue
                    grad = param.grad.data
                    if grad.shape != param.shape:
                        raise ValueError(
                            f"{self._op}: the gradient of {param.name or 'a parameter'} has shape {grad.shape} "
                            f"but the parameter has shape {param.shape}"
                        )
                    if param not in self.state:
                        self.state[param] = self._init_state(param, group)
                    self._update(param.data, grad.astype(param.dtype, copy=False), self.state[param], group)
                    # The update changed param's array in place: a graph recorded
                    # before it that still needs the old values refuses to run backward.
                    bump_version(param)
        return loss

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """The state of a parameter before its first step (zeros of its shape, step counts)."""
        return {}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Change `param` (the parameter's array) in place, given its gradient."""
        raise NotImplementedError

    # --- saving and loading -------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: hyperparameters of each group and the
        per-parameter state (momentum buffers, moments, step counts), with
        parameters named by their position (0, 1, ... across the groups).

        A deep copy: later steps do not change it.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            saved = {key: value for key, value in group.items() if key != "params"}
            saved["params"] = []
            for param in group["params"]:
                index[id(param)] = len(index)
                saved["params"].append(index[id(param)])
            groups.append(saved)
        state = {}
        for group in self.param_groups:
            for param in group["params"]:
                if param in self.state:
                    state[index[id(param)]] = copy.deepcopy(self.state[param])
        return {"state": state, "param_groups": copy.deepcopy(groups)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what `state_dict()` saved, into an optimizer over the same parameters
        (same groups, same order). Nothing changes if the saved state does not fit."""
        self._check_saved_layout(state_dict)
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{self._op}.load_state_dict: the saved state has {len(saved_groups)} parameter groups, "
                f"this optimizer has {len(self.param_groups)}"
            )
        by_index: dict[int, Tensor] = {}
        for g, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{self._op}.load_state_dict: group {g} has {len(saved['params'])} parameters in the saved "
                    f"state but {len(group['params'])} here"
                )
            for index, param in zip(saved["params"], group["params"], strict=True):
                by_index[index] = param
        # The saved hyperparameters must pass the same checks as the constructor's.
        checked_groups = []
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            checked = {**group, **{key: value for key, value in saved.items() if key != "params"}}
            try:
                self._check_settings(checked)
            except (TypeError, ValueError) as error:
                raise ValueError(f"{self._op}.load_state_dict: a saved hyperparameter is invalid: {error}") from None
            checked_groups.append(checked)
        group_of = {id(p): checked for checked in checked_groups for p in checked["params"]}
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, saved_state in state_dict["state"].items():
            index = _parameter_index(key, self._op)
            param = by_index.get(index)
            if param is None:
                raise ValueError(f"{self._op}.load_state_dict: state for unknown parameter index {key!r}")
            self._check_state_keys(param, saved_state, group_of[id(param)], index)
            new_state[param] = self._restore_state(param, saved_state, index)
        # All checks passed: replace.
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            for key, value in saved.items():
                if key != "params":
                    group[key] = copy.deepcopy(value)
        self.state = new_state

    def _check_saved_layout(self, state_dict: Any) -> None:
        """The shape of what state_dict() returns: a dict with a dict 'state' and a
        list 'param_groups' of dicts, each with a list of parameter positions."""
        op = f"{self._op}.load_state_dict"
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{op}: expected a dict with 'state' and 'param_groups'")
        if not isinstance(state_dict["state"], dict):
            raise TypeError(f"{op}: 'state' must be a dict, got {type(state_dict['state']).__name__}")
        groups = state_dict["param_groups"]
        if not isinstance(groups, (list, tuple)):
            raise TypeError(f"{op}: 'param_groups' must be a list, got {type(groups).__name__}")
        for g, group in enumerate(groups):
            if not isinstance(group, dict) or "params" not in group:
                raise ValueError(f"{op}: param_groups[{g}] must be a dict with a 'params' entry, got {group!r}")
            if not isinstance(group["params"], (list, tuple)):
                raise TypeError(
                    f"{op}: param_groups[{g}]['params'] must be a list of parameter positions, "
                    f"got {type(group['params']).__name__}"
                )
            for position in group["params"]:
                is_int = isinstance(position, (int, np.integer)) and not isinstance(position, (bool, np.bool_))
                if not is_int:
                    raise TypeError(
                        f"{op}: param_groups[{g}]['params'] holds parameter positions (ints), "
                        f"got {type(position).__name__} {position!r}"
                    )

    def _check_state_keys(self, param: Tensor, saved: Any, group: dict[str, Any], index: Any) -> None:
        """The saved state of a parameter has every entry a first step would make (moments, step count)."""
        if not isinstance(saved, dict):
            raise ValueError(
                f"{self._op}.load_state_dict: the state of parameter {index} must be a dict, got {type(saved).__name__}"
            )
        missing = sorted(set(self._init_state(param, group)) - set(saved))
        if missing:
            raise ValueError(
                f"{self._op}.load_state_dict: the state of parameter {index} ({param.name or 'unnamed'}, shape "
                f"{param.shape}) is missing {', '.join(map(repr, missing))}"
            )

    def _restore_state(self, param: Tensor, saved: dict[str, Any], index: int) -> dict[str, Any]:
        # Arrays are copied in the parameter's dtype, so a resumed run computes
        # exactly what the original run would have.
        restored = {}
        for key, value in saved.items():
            if not (value is None or isinstance(value, (np.ndarray, numbers.Number))):
                # A step would fail on it, or compute with the wrong type.
                raise TypeError(
                    f"{self._op}.load_state_dict: state {key!r} of parameter {index} is a "
                    f"{type(value).__module__.split('.')[0]}.{type(value).__name__}; saved states hold numpy "
                    "arrays, numbers and None (convert a PyTorch tensor with .detach().cpu().numpy())"
                )
            if isinstance(value, np.ndarray):
                if value.shape != param.shape:
                    raise ValueError(
                        f"{self._op}.load_state_dict: state {key!r} of {param.name or 'a parameter'} has shape "
                        f"{value.shape} but the parameter has shape {param.shape}"
                    )
                value = value.astype(param.dtype, copy=True)
            else:
                value = copy.deepcopy(value)
            restored[key] = value
        return restored

    def __repr__(self) -> str:
        lines = [f"{self._op} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)
