"""`Module` and `Parameter`: the bookkeeping behind every layer and model.

A model is a tree of modules. Assigning a `Parameter`, a `Module` or a buffer
to an attribute (`self.conv1 = Conv2d(...)`) registers it, so the root module
can find every trainable tensor (`parameters()`), save and restore them
(`state_dict()` / `load_state_dict()`), switch all layers between training and
evaluation (`train()` / `eval()`) and print itself.

Calling a module (`model(x)`) runs its `forward` inside
`grad_mode.module_scope(name)`, so each op recorded on the way is tagged with the
module's dotted path ("features.0") and a drawing of the graph can group the
ops by layer.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal, NamedTuple, overload

import numpy as np

from ..grad_mode import module_scope
from ..ops import to_arguments
from ..tensor import Tensor, bump_version


class Parameter(Tensor):
    """A Tensor that is a trainable weight of a Module.

    `Parameter(data, requires_grad=True)`. Python numbers and lists become
    float32; a floating-point numpy array keeps its dtype (use float64 for
    gradient checks); a Tensor's array is shared, not copied.

    Assigning a Parameter to a Module attribute registers it. Once the model is
    built, `.name` holds its dotted path in the model ("conv1.weight"), which
    graph drawings and error messages show.
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, name: str | None = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=False, name=name)
        if self.data.dtype.kind != "f":
            raise TypeError(f"Parameter: data must be floating point, got dtype {self.data.dtype}")
        self.requires_grad_(requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class _Keys(NamedTuple):
    """What `load_state_dict(strict=False)` skipped."""

    missing_keys: list[str]
    unexpected_keys: list[str]


# Bumped whenever a parameter or submodule is registered anywhere, so a root
# module can tell cheaply whether the dotted names of its parameters are stale.
_structure_version = 0
# How many Module.__call__ frames are running: 0 means "this call is the outermost".
_call_depth = 0
# What watches module calls while one is switched on (`watching_calls`, used by
# nn.summary), else None: an object with enter(module) and exit(module, output).
# Off, it costs each call one `is not None` test.
_call_watcher = None


@contextlib.contextmanager
def watching_calls(watcher: Any) -> Iterator[None]:
    """Call watcher.enter(module) before and watcher.exit(module, output) after
    every module's forward inside the block (for a model summary)."""
    global _call_watcher
    previous = _call_watcher
    _call_watcher = watcher
    try:
        yield
    finally:
        _call_watcher = previous


def _is_torch_tensor(value: Any) -> bool:
    """A PyTorch tensor or Parameter (told by its type's module: torch is not imported here)."""
    return type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach")


def _checked_state_value(value: Any, tensor: Tensor) -> tuple[np.ndarray | None, str | None]:
    """A state_dict value converted to `tensor`'s dtype, or the reason it cannot be loaded into it."""
    if value is None:
        return None, "the value is None"
    if isinstance(value, Tensor):
        value = value.data
    if _is_torch_tensor(value):
        # A Parameter requires grad and may live on a GPU: numpy reads neither directly.
        try:
            value = value.detach().cpu().numpy()
        except (RuntimeError, TypeError) as error:  # e.g. bfloat16, which numpy has no type for
            return None, f"cannot convert the PyTorch {type(value).__name__} to a numpy array: {error}"
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:  # e.g. a ragged list
        return None, f"cannot make an array from the {type(value).__name__}: {error}"
    if array.dtype.kind == "c":
        return None, f"complex values (dtype {array.dtype}) cannot be loaded: the imaginary part would be lost"
    if array.dtype.kind not in "fiub":
        return None, f"a {type(value).__name__} of dtype {array.dtype} is not numeric"
    if array.shape != tensor.shape:
        return None, f"checkpoint {array.shape} vs model {tensor.shape}"
    if tensor.dtype.kind in "iub" and array.dtype.kind == "f":
        if not (np.isfinite(array).all() and (array == np.round(array)).all()):
            return None, f"non-integer values cannot be loaded into a {tensor.dtype} tensor"
    if not tensor.data.flags.writeable:
        return None, "the model's array is read-only"
    return array.astype(tensor.dtype, copy=True), None


class Module:
    """Base class of every layer and model.

    Subclass it, call `super().__init__()` first in `__init__`, assign layers
    and parameters as attributes, and write `forward`:

        class Net(Module):
            def __init__(self):
                super().__init__()
                self.fc = Linear(4, 2)

            def forward(self, x):
                return self.fc(x).relu()
    """

    training: bool

    def __init__(self) -> None:
        # object.__setattr__ skips our own __setattr__, which needs these dicts.
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        # The attribute name this module has in its parent (None for a root).
        object.__setattr__(self, "_name", None)
        object.__setattr__(self, "_is_child", False)
        object.__setattr__(self, "_names_version", -1)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}: forward is not implemented")

    # --- registration -----------------------------------------------------

    def _check_initialised(self, what: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: cannot assign {what} before Module.__init__() is called; "
                "call super().__init__() first in your __init__"
            )

    def __setattr__(self, name: str, value: Any) -> None:
        global _structure_version
        if isinstance(value, Parameter):
            self._check_initialised("a parameter")
            self._forget(name)
            self._parameters[name] = value
            if value.name is None:
                value.name = name
            _structure_version += 1
        elif isinstance(value, Module):
            self._check_initialised("a submodule")
            self._forget(name)
            self._modules[name] = value
            object.__setattr__(value, "_name", name)
            object.__setattr__(value, "_is_child", True)
            # Prefix the names below with this attribute: models are usually
            # built bottom-up, so the root ends up with full dotted names
            # ("features.0.weight") as soon as it is constructed.
            for registry in ("_parameters", "_buffers"):
                for path, tensor in value._named_tensors(registry, name, True):
                    tensor.name = path
            _structure_version += 1
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"{type(self).__name__}: cannot assign a {type(value).__name__} to parameter {name!r}; "
                    "assign a Parameter (or None)"
                )
            self._parameters[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"{type(self).__name__}: cannot assign a {type(value).__name__} to buffer {name!r}; "
                    "assign a Tensor (or None)"
                )
            self._buffers[name] = value
        elif "_modules" in self.__dict__ and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"{type(self).__name__}: cannot assign a {type(value).__name__} to submodule {name!r}"
                )
            self._modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        """Drop `name` from every registry and from the plain attributes."""
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        self._non_persistent.discard(name)
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: parameters, buffers and
        # submodules live in the registries, not in __dict__.
        for registry in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"{type(self).__name__} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters or name in self._buffers or name in self._modules:
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def _check_member_name(self, name: Any, op: str) -> None:
        """A name for register_parameter / register_buffer / add_module, with PyTorch's rules:
        a non-empty string without dots (dots separate the levels of state_dict keys)
        that is not already a method or attribute of the class."""
        if not isinstance(name, str):
            raise TypeError(f"{op}: the name must be a string, got {type(name).__name__} {name!r}")
        if not name:
            raise KeyError(f"{op}: the name must not be empty")
        if "." in name:
            raise KeyError(f"{op}: the name must not contain '.', got {name!r} (dots join the names of nested modules)")
        if hasattr(type(self), name):
            raise KeyError(f"{op}: {name!r} is already an attribute of {type(self).__name__}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register a parameter (or None, for an optional one such as a missing bias)."""
        self._check_member_name(name, "register_parameter")
        if param is None:
            self._check_initialised("a parameter")
            self._forget(name)
            self._parameters[name] = None
        elif not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be a Parameter or None, got {type(param).__name__}")
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a tensor that is part of the module's state but not trained,
        such as batch norm's running mean. Buffers are saved in `state_dict()`
        unless persistent=False."""
        self._check_initialised("a buffer")
        self._check_member_name(name, "register_buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: {name!r} must be a Tensor or None, got {type(tensor).__name__}")
        self._forget(name)
        self._buffers[name] = tensor
        if tensor is not None and tensor.name is None:
            tensor.name = name
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register a submodule under `name` (same as `setattr(self, name, module)`)."""
        self._check_member_name(name, "add_module")
        if module is None:
            self._check_initialised("a submodule")
            self._forget(name)
            self._modules[name] = None
        elif not isinstance(module, Module):
            raise TypeError(f"add_module: {name!r} must be a Module, got {type(module).__name__}")
        else:
            setattr(self, name, module)

    # --- walking the tree -------------------------------------------------

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(dotted path, module) for this module and every module below it, each once."""
        seen: set[int] = set()
        # An explicit stack instead of recursion, visiting in definition order.
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            path, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield path, module
            children = [(f"{path}.{name}" if path else name, child) for name, child in module._modules.items()]
            stack.extend(reversed([entry for entry in children if entry[1] is not None]))

    def modules(self) -> Iterator[Module]:
        """This module and every module below it."""
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(attribute name, module) for the direct submodules."""
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self) -> Iterator[Module]:
        """The direct submodules."""
        for _, child in self.named_children():
            yield child

    # The parameters' registry holds Parameters, the buffers' plain Tensors.
    @overload
    def _named_tensors(
        self, registry: Literal["_parameters"], prefix: str, recurse: bool
    ) -> Iterator[tuple[str, Parameter]]: ...

    @overload
    def _named_tensors(
        self, registry: Literal["_buffers"], prefix: str, recurse: bool
    ) -> Iterator[tuple[str, Tensor]]: ...

    def _named_tensors(self, registry: str, prefix: str, recurse: bool) -> Iterator[tuple[str, Tensor]]:
        seen: set[int] = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for path, module in modules:
            for name, tensor in getattr(module, registry).items():
                # A tensor shared by two modules (tied weights) is listed once.
                if tensor is None or id(tensor) in seen:
                    continue
                seen.add(id(tensor))
                yield (f"{path}.{name}" if path else name), tensor

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted path, parameter) pairs, e.g. ("conv1.weight", ...)."""
        if not self._is_child and not prefix:
            self._set_names()
        yield from self._named_tensors("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter of this module and its submodules, each once."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        """(dotted path, buffer) pairs, e.g. ("bn1.running_mean", ...)."""
        yield from self._named_tensors("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer of this module and its submodules."""
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def num_parameters(self, trainable_only: bool = False) -> int:
        """The number of scalar weights (all, or only those with requires_grad)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def _set_names(self) -> None:
        """Give every parameter and buffer its dotted path from this (root) module as `.name`."""
        if self._names_version == _structure_version:
            return
        for path, tensor in self._named_tensors("_parameters", "", True):
            tensor.name = path
        for path, buffer in self._named_tensors("_buffers", "", True):
            buffer.name = path
        object.__setattr__(self, "_names_version", _structure_version)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call fn on every submodule and then on self (e.g. a custom initialisation); returns self."""
        for module in reversed(list(self.modules())):
            fn(module)
        return self

    # --- calling ------------------------------------------------------------

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        global _call_depth
        if _call_depth == 0 and not self._is_child:
            # The outermost call on a root model: make sure every parameter's
            # name is its full dotted path (cheap when nothing changed).
            self._set_names()
        _call_depth += 1
        watcher = _call_watcher
        if watcher is not None:
            watcher.enter(self)
        try:
            if self._name is None:
                output = self.forward(*args, **kwargs)
            else:
                # Scopes nest: the root's forward calls self.features(...), which
                # pushes "features"; its forward calls self[0](...), which pushes
                # "0": ops recorded there are tagged "features.0".
                with module_scope(self._name):
                    output = self.forward(*args, **kwargs)
        finally:
            _call_depth -= 1
        if watcher is not None:
            watcher.exit(self, output)
        return output

    # --- modes and gradients ----------------------------------------------

    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout drops, batch norm uses batch statistics) on
        this module and every submodule; returns self."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be a bool, got {type(mode).__name__}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (dropout is the identity, batch norm uses running
        statistics); returns self. Use `no_grad()` as well to skip recording."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of every parameter (set `.grad` to None)."""
        for param in self.parameters():
            if set_to_none or param.grad is None:
                param.grad = None
            else:
                param.grad.data[...] = 0
                bump_version(param.grad)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Turn gradients on or off for every parameter (to freeze layers); returns self."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def to(self, *args: Any, dtype: Any = None, device: Any = None) -> Module:
        """Cast every floating-point parameter and buffer to a dtype in place; returns self.

        PyTorch's spellings: model.to(tg.float64), model.to("cpu") (every
        tensor is on the CPU already: nothing changes), model.to("cpu", tg.float64),
        model.to(dtype=...). Do it before making an optimizer: the parameters
        get new arrays.
        """
        dtype = to_arguments(args, dtype, device)
        if dtype is None:
            return self
        if dtype.kind != "f":
            raise TypeError(f"to: dtype must be floating point, got {dtype}")
        for tensor in list(self.parameters()) + list(self.buffers()):
            if tensor.data.dtype.kind == "f":
                tensor.data = tensor.data.astype(dtype)
                bump_version(tensor)
        return self

    def cpu(self) -> Module:
        """Returns self: every tensor is on the CPU already (PyTorch's `model.cpu()`)."""
        return self

    def double(self) -> Module:
        """Cast parameters and buffers to float64 (for gradient checks); returns self."""
        return self.to(np.float64)

    def float(self) -> Module:
        """Cast parameters and buffers to float32; returns self."""
        return self.to(np.float32)

    # --- saving and loading ---------------------------------------------------

    def _state_tensors(self) -> OrderedDict[str, Tensor]:
        """Every tensor `state_dict` saves, by dotted name, in a fixed order:
        each module's parameters, then its buffers, then its children's."""
        entries: OrderedDict[str, Tensor] = OrderedDict()
        for path, module in self.named_modules():
            prefix = f"{path}." if path else ""
            for name, param in module._parameters.items():
                if param is not None:
                    entries[prefix + name] = param
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent:
                    entries[prefix + name] = buffer
        return entries

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """An ordered dict from dotted name to a numpy copy of each parameter and
        persistent buffer, e.g. {"conv1.weight": array(...), "bn1.running_mean": ...}.

        Copies, so training on does not change a saved state.
        """
        return OrderedDict((name, tensor.data.copy()) for name, tensor in self._state_tensors().items())

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> _Keys:
        """Copy the values of `state_dict` into the parameters and buffers, in place.

        strict=True: the keys must match exactly. With strict=False, missing and
        unexpected keys are skipped and returned. Keys must be str; shapes must
        always match. Values are numpy arrays (or anything numpy reads as one),
        Tensors, or PyTorch tensors and Parameters (converted with
        `.detach().cpu().numpy()`, so a PyTorch model's state dict loads as it is).
        On any error nothing is changed, and the message names every missing
        key, unexpected key and shape mismatch.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(f"load_state_dict: expected a dict, got {type(state_dict).__name__}")
        not_names = [f"{type(key).__name__} {key!r}" for key in state_dict if not isinstance(key, str)]
        if not_names:
            raise TypeError(
                "load_state_dict: the keys of a state dict are dotted names such as 'conv1.weight' (str); "
                f"got {', '.join(not_names)}"
            )
        own = self._state_tensors()
        missing = [name for name in own if name not in state_dict]
        unexpected = [name for name in state_dict if name not in own]
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        # First check and convert every value; only then change anything, so
        # that an error in any key leaves the whole model as it was.
        values = {}
        for name, tensor in own.items():
            if name not in state_dict:
                continue
            value, problem = _checked_state_value(state_dict[name], tensor)
            if problem is not None:
                problems.append(f"{name}: {problem}")
            values[name] = value
        if problems:
            raise ValueError(
                f"load_state_dict: cannot load the state into {type(self).__name__}:\n  " + "\n  ".join(problems)
            )
        # Everything matches: now copy, in place, so references stay valid.
        # Each copy bumps the tensor's version: a graph recorded before the
        # load refuses to run backward with the new values.
        for name, value in values.items():
            own[name].data[...] = value
            bump_version(own[name])
        return _Keys(missing, unexpected)

    # --- printing -----------------------------------------------------------

    def extra_repr(self) -> str:
        """The settings shown inside the parentheses of repr (override in layers)."""
        return ""

    def _repr_tree(self) -> str:
        lines = []
        for name, child in self._modules.items():
            body = child._repr_tree() if child is not None else "None"
            body = body.replace("\n", "\n  ")  # indent nested modules
            lines.append(f"  ({name}): {body}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}(" + (f"\n  {extra}" if extra else "")
        return head + "\n" + "\n".join(lines) + "\n)"

    def __repr__(self) -> str:
        return f"{self._repr_tree()}\nTotal parameters: {self.num_parameters():,}"


class Sequential(Module):
    """Modules applied one after the other: `Sequential(Conv2d(1, 8, 3), ReLU(), Flatten())`.

    The children are named "0", "1", ... (or by the keys of an OrderedDict
    passed as the only argument), so parameter names read "0.weight" and
    ops recorded in the first layer are tagged "<name>.0".
    Supports `len`, iteration, `seq[i]` and `seq[a:b]` (a new Sequential
    sharing the layers).
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(str(name), module)
            return
        for index, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential: argument {index} is a {type(module).__name__}, not a Module")
            self.add_module(str(index), module)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def append(self, module: Module) -> Sequential:
        """Add a module at the end; returns self."""
        self.add_module(str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice) -> Any:
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        if not isinstance(index, int) or isinstance(index, bool):
            raise TypeError(f"Sequential: index must be an int or a slice, got {type(index).__name__}")
        if not -len(modules) <= index < len(modules):
            raise IndexError(f"Sequential: index {index} is out of range for {len(modules)} modules")
        return modules[index]


class ModuleList(Module):
    """A list of modules whose parameters are registered (a plain Python list's are not).

    Children are named "0", "1", ...; it has no forward: call its items yourself.
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        for module in modules or ():
            self.append(module)

    def append(self, module: Module) -> ModuleList:
        """Add a module at the end; returns self."""
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList: can only hold Modules, got a {type(module).__name__}")
        self.add_module(str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int) -> Module:
        modules = list(self._modules.values())
        if not -len(modules) <= index < len(modules):
            raise IndexError(f"ModuleList: index {index} is out of range for {len(modules)} modules")
        return modules[index]


class ModuleDict(Module):
    """A dict of modules whose parameters are registered, as PyTorch's nn.ModuleDict.

    Keys are strings without dots (they become part of the parameter names,
    "heads.digits.weight"); the order of insertion is kept. It has no forward:
    pick the module yourself, `self.heads[name](x)`.
    """

    def __init__(self, modules: Any = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        if key not in self._modules:
            known = ", ".join(repr(k) for k in self._modules) or "none"
            raise KeyError(f"ModuleDict: no module named {key!r} (keys: {known})")
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict: can only hold Modules, got a {type(module).__name__} for key {key!r}")
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        self[key]  # the KeyError naming the keys
        self._forget(key)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()

    def pop(self, key: str) -> Module:
        """Remove the module named `key` and return it."""
        module = self[key]
        del self[key]
        return module

    def update(self, modules: Any) -> None:
        """Add the modules of a dict (or of (key, module) pairs), in their order."""
        pairs = modules.items() if hasattr(modules, "items") else modules
        for key, module in pairs:
            self[key] = module
