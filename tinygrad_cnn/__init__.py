"""tinygrad_cnn: a small reverse-mode autograd engine for learning and training CNNs.

`tinygrad_cnn.data` and `tinygrad_cnn.viz` are imported on first use (`tg.viz`,
`from tinygrad_cnn.data import DataLoader`): they bring in graphviz and the
http and url modules of the standard library, which most programs never need.
"""

import importlib
from types import ModuleType

from . import functional, inplace, memory, nn, ops, optim
from .anomaly import detect_anomaly, is_anomaly_enabled
from .creation import (
    arange,
    eye,
    full,
    get_rng,
    manual_seed,
    ones,
    ones_like,
    rand,
    randn,
    uniform,
    zeros,
    zeros_like,
)
from .engine import Function, Tensor, enable_grad, grad, is_grad_enabled, no_grad
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .memory import keep_freed_memory
from .ops import (
    abs,
    clip,
    concatenate,
    exp,
    log,
    matmul,
    maximum,
    minimum,
    pad,
    relu,
    sigmoid,
    sqrt,
    stack,
    tanh,
    where,
)

tensor = Tensor

__all__ = [
    "Function", "GradcheckError", "Tensor", "abs", "arange", "clip", "concatenate", "detect_anomaly",
    "enable_grad", "exp",
    "eye", "full", "get_rng", "grad", "gradcheck", "gradgradcheck", "is_anomaly_enabled", "is_grad_enabled",
    "keep_freed_memory", "log",
    "manual_seed",
    "matmul", "maximum", "minimum", "no_grad", "ones", "ones_like", "ops", "pad", "rand", "randn", "relu",
    "sigmoid", "sqrt", "stack", "tanh", "tensor", "uniform", "where", "zeros", "zeros_like",
    "data", "functional", "inplace", "memory", "nn", "optim", "viz",
]
__version__ = "0.1.0"

# Submodules imported when first asked for (module __getattr__, PEP 562).
_LAZY_SUBMODULES = ("data", "viz")


def __getattr__(name: str) -> ModuleType:
    if name in _LAZY_SUBMODULES:
        # import_module also sets the attribute, so this runs once per submodule.
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
