"""tinygrad_cnn: a small reverse-mode autograd engine for learning and training CNNs."""

from . import data, functional, inplace, memory, nn, ops, optim, viz
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
