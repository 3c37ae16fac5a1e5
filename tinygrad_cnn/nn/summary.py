"""A model summary: each layer's output shape and parameter count, as torchinfo prints them.

    >>> print(tg.summary(LeNet(), (1, 1, 28, 28), verbose=False))
    Layer (type)            Output shape         Param #
    ====================================================
    LeNet                   (1, 10)              --
      conv1 (Conv2d)        (1, 32, 28, 28)      320
    ...

The summary runs one forward pass on zeros of the given shape (with recording
off, in evaluation mode, which is restored afterwards) and notes the output of
every module call. Functions called inside a forward (`x.flatten(1)`,
`F.relu(x)`) are not modules, so they have no row of their own: their effect
shows in the next module's output shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..grad_mode import no_grad
from ..tensor import Tensor
from .module import Module, watching_calls


@dataclass
class LayerRow:
    """One module call: its dotted name in the model, type, nesting depth,
    output shape(s) and parameter count (None for a module with submodules:
    their rows count them)."""

    name: str
    type_name: str
    depth: int
    output_shapes: list[tuple[int, ...]] = field(default_factory=list)
    num_params: int | None = None


@dataclass
class ModelSummary:
    """What `summary` returns: the rows and the totals; str() gives the table."""

    input_shape: tuple[int, ...]
    rows: list[LayerRow]
    total_params: int
    trainable_params: int

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    def __str__(self) -> str:
        cells = [("Layer (type)", "Output shape", "Param #")]
        for row in self.rows:
            label = row.type_name if not row.name else f"{row.name} ({row.type_name})"
            shapes = ", ".join(str(shape) for shape in row.output_shapes) or "--"
            params = "--" if row.num_params is None else f"{row.num_params:,}"
            cells.append(("  " * row.depth + label, shapes, params))
        widths = [max(len(line[column]) for line in cells) for column in range(3)]

        def line(layer: str, shapes: str, params: str) -> str:
            return f"{layer:<{widths[0]}}   {shapes:<{widths[1]}}   {params:>{widths[2]}}"

        rule = "=" * len(line(*cells[0]))
        text = [line(*cells[0]), rule, f"Input: {self.input_shape}"]
        text += [line(*row) for row in cells[1:]]
        text += [
            rule,
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
        ]
        return "\n".join(text)

    def __repr__(self) -> str:
        return str(self)


class _CallRecorder:
    """The watcher `summary` switches on: a row per module call, in the order the calls start."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names
        self.rows: list[LayerRow] = []
        self.open_rows: list[LayerRow] = []  # rows of the calls still running, innermost last

    def enter(self, module: Module) -> None:
        has_children = any(True for _ in module.children())
        params = None if has_children else module.num_parameters()
        row = LayerRow(self.names.get(id(module), "?"), type(module).__name__, len(self.open_rows), num_params=params)
        self.rows.append(row)
        self.open_rows.append(row)

    def exit(self, module: Module, output: Any) -> None:
        row = self.open_rows.pop()
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        row.output_shapes = [tuple(item.shape) for item in outputs if isinstance(item, Tensor)]


def _check_shape(input_shape: Any) -> tuple[int, ...]:
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (tuple, list)) or not all(
        isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in input_shape
    ):
        raise TypeError(
            f"summary: input_shape must be a tuple of positive ints including the batch axis, e.g. (1, 1, 28, 28), "
            f"got {input_shape!r}"
        )
    return tuple(int(n) for n in input_shape)


def summary(model: Module, input_shape: Any, dtype: Any = np.float32, verbose: bool = True) -> ModelSummary:
    """Run `model` on zeros of `input_shape` and list each layer's output shape and parameter count.

    input_shape includes the batch axis, as torchinfo's input_size:
    `summary(model, (1, 1, 28, 28))`. Prints the table when verbose (the
    default) and returns it as a `ModelSummary` (rows and totals; str() is
    the table). The model's training mode is restored afterwards.
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary: model must be an nn.Module, got {type(model).__name__}")
    shape = _check_shape(input_shape)
    names = {id(module): path for path, module in model.named_modules()}
    recorder = _CallRecorder(names)
    modes = [(module, module.training) for module in model.modules()]
    model.eval()  # batch norm with running statistics: a batch of 1 works
    try:
        with no_grad(), watching_calls(recorder):
            model(Tensor(np.zeros(shape, dtype=dtype)))
    except (ValueError, TypeError) as error:
        raise ValueError(f"summary: the model does not accept an input of shape {shape}: {error}") from None
    finally:
        for module, training in modes:
            object.__setattr__(module, "training", training)
    params = list(model.parameters())
    result = ModelSummary(
        input_shape=shape,
        rows=recorder.rows,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
    )
    if verbose:
        print(result)
    return result
