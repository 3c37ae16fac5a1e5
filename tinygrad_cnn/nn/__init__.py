"""Neural-network building blocks, with `torch.nn`'s names and defaults.

    from tinygrad_cnn import nn

    model = nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 14 * 14, 10),
    )

`Module` is the base class of every layer and model (module.py), the layers
are in layers.py, the loss modules in loss.py, and weight initialisation in
`nn.init`; `nn.summary(model, input_shape)` lists each layer's output shape and
parameter count (summary.py).
"""

from . import init
from .layers import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    ConvTranspose2d,
    Dropout,
    Flatten,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential
from .summary import ModelSummary, summary

__all__ = [
    "AdaptiveAvgPool2d", "AvgPool2d", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d", "BatchNorm2d", "Conv2d",
    "ConvTranspose2d", "CrossEntropyLoss", "Dropout", "Flatten", "Identity", "LeakyReLU", "Linear", "LogSoftmax",
    "MSELoss", "MaxPool2d", "ModelSummary", "Module", "ModuleDict", "ModuleList", "NLLLoss", "Parameter", "ReLU",
    "Sequential", "Sigmoid", "Softmax", "Tanh", "init", "summary",
]
