"""tinygrad_cnn: a small reverse-mode autograd engine for learning and training CNNs.

`tinygrad_cnn.data` and `tinygrad_cnn.viz` are imported on first use (`tg.viz`,
`from tinygrad_cnn.data import DataLoader`): they bring in graphviz and the
http and url modules of the standard library, which most programs never need.
"""

import importlib
from types import ModuleType

from . import backward, cuda, functional, memory, nn, ops, optim
from .anomaly import detect_anomaly, is_anomaly_enabled
from .backward import grad
from .creation import (
    arange,
    bool_,
    eye,
    float16,
    float32,
    float64,
    from_numpy,
    full,
    get_rng,
    int8,
    int16,
    int32,
    int64,
    manual_seed,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    uint8,
    uniform,
    zeros,
    zeros_like,
)

# `name as name` exports a name that __all__ leaves out (see there) to type checkers.
from .creation import double as double
from .creation import half as half
from .creation import long as long
from .function import Function
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .memory import keep_freed_memory
from .nn.summary import summary
from .ops import (
    absolute,
    argmax,
    argmin,
    cat,
    clamp,
    clip,
    clone,
    concatenate,
    exp,
    flatten,
    inplace,
    log,
    matmul,
    maximum,
    mean,
    minimum,
    pad,
    reduce_max,
    reduce_min,
    reduce_sum,
    relu,
    reshape,
    sigmoid,
    sqrt,
    squeeze,
    stack,
    std,
    tanh,
    unsqueeze,
    var,
    where,
)
from .serialization import load, save
from .tensor import Device, Tensor, connect

# Tensor's methods call the ops and the backward pass, which both use Tensor:
# they are handed to it here, once all three are imported (tensor.py says why).
connect(ops, backward)
del connect

device = Device
# numpy's and PyTorch's names of these ops. Inside the package they are
# reduce_sum, reduce_max, reduce_min and absolute, never names that hide
# Python's built-ins; sum, max and min are left out of __all__ too.
abs = absolute
sum = reduce_sum
max = reduce_max
min = reduce_min
# PyTorch's names of numpy's scalar types (tinygrad_cnn.float32 is np.float32). They hide
# Python's built-ins inside this file only, which uses none of them below.
bool = bool_
float = float32
int = int32

__all__ = [
    "Device", "Function", "GradcheckError", "Tensor", "abs", "arange", "clip", "concatenate", "detect_anomaly",
    "enable_grad", "exp",
    "eye", "full", "get_rng", "grad", "gradcheck", "gradgradcheck", "is_anomaly_enabled", "is_grad_enabled",
    "keep_freed_memory", "log",
    "manual_seed",
    "matmul", "maximum", "minimum", "no_grad", "ones", "ones_like", "ops", "pad", "rand", "randn", "relu",
    "sigmoid", "sqrt", "stack", "tanh", "tensor", "uniform", "where", "zeros", "zeros_like",
    "cuda", "data", "functional", "inplace", "memory", "nn", "optim", "viz",
    # PyTorch's spellings. (bool, float, int, long, double, half, sum, max and min are
    # attributes too, but left out of `import *`, which would hide Python's built-ins.)
    "argmax", "argmin", "bool_", "cat", "clamp", "clone", "device", "flatten", "float16", "float32", "float64",
    "from_numpy", "inference_mode", "int8", "int16", "int32", "int64", "load", "mean", "reshape", "save",
    "squeeze", "std", "summary", "uint8", "unsqueeze", "var",
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
