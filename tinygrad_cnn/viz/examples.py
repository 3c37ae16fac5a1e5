"""Ready-made graphs to draw: the chain-rule example, the tiny CNN and a model's training step."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import nn
from ..nn.module import Module
from ..tensor import Tensor
from .drawing import retain_grads

__all__ = ["TINY_CNN_NUMBERS", "TinyCNN", "chain_rule_example", "model_training_step", "tiny_cnn_example"]


def chain_rule_example(run_backward: bool = True, retain_graph: bool = False) -> dict[str, Tensor]:
    """The textbook example f = (x + y) * z at x=-2, y=5, z=-4, after backward.

    Returns the tensors by name: x, y, z, q = x + y and f = q * z, with every
    gradient kept (df/dx = df/dy = -4, df/dz = 3, df/dq = -4). With
    run_backward=False, the graph as the forward pass left it.
    """
    x = Tensor(-2.0, requires_grad=True, name="x")
    y = Tensor(5.0, requires_grad=True, name="y")
    z = Tensor(-4.0, requires_grad=True, name="z")
    q = x + y
    q.name = "q"
    f = q * z
    f.name = "f"
    if run_backward:
        retain_grads(f)
        f.backward(retain_graph=retain_graph)
    return {"x": x, "y": y, "z": z, "q": q, "f": f}


# The tiny CNN's fixed numbers, small integers and halves so that every value and
# gradient can be worked out by hand (the worked example is in docs/visualization.md).
TINY_CNN_NUMBERS: dict[str, list] = {
    "input": [[[[2, 2, -1, -1],
                [0, 2, 0, -1],
                [2, 2, 0, 1],
                [0, -1, 0, 0]]]],
    "conv.weight": [[[[2, 0],
                      [-1, 1]]]],
    "conv.bias": [1],
    "fc.weight": [[1, 0, 0, -1],
                  [-2, 1, 1, 1]],
    "fc.bias": [0.5, 0.5],
    "target": [0],
}


class TinyCNN(Module):
    """conv (one 2x2 filter with bias) -> ReLU -> 2x2 max-pool, stride 1 -> flatten -> fc (4 -> 2).

    On a 1x1x4x4 image: conv gives 3x3, the pool 2x2 (its windows overlap, so one
    input can win two of them), flatten 4 numbers, fc 2 logits. `forward` names
    every intermediate tensor, so drawings and tables can refer to them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, kernel_size=2)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        steps = {}
        steps["conv_out"] = self.conv(x)
        steps["relu_out"] = F.relu(steps["conv_out"])
        steps["pool_out"] = F.max_pool2d(steps["relu_out"], 2, stride=1)
        steps["flat"] = steps["pool_out"].flatten(1)
        steps["logits"] = self.fc(steps["flat"])
        for name, tensor in steps.items():
            tensor.name = name
        return steps


def tiny_cnn_example(run_backward: bool = True) -> dict[str, Tensor]:
    """The tiny CNN on its fixed numbers, forward and (by default) backward.

    Returns the tensors by name, in the order the forward pass makes them:
    input, conv.weight, conv.bias, conv_out, relu_out, pool_out, flat,
    fc.weight, fc.bias, logits, target, loss. Each tensor's `.name` is its key.
    With run_backward=True every gradient is kept (`retain_grads`), so each
    tensor that requires grad has a `.grad`.

    The numbers are chosen so that everything can be checked by hand:
      - exactly one ReLU input is negative (conv_out[0, 0, 0, 2] = -2), so the
        ReLU masks it;
      - relu_out[0, 0, 2, 1] = 6 wins two pool windows, so its gradient is the
        sum of two pool gradients, 0.5 + 1 = 1.5;
      - the top-right pool window has a tie (relu_out[0, 0, 0, 1] =
        relu_out[0, 0, 1, 1] = 3): the engine sends its gradient to the first
        maximum in row-major order, relu_out[0, 0, 0, 1] (PyTorch's rule);
      - the logits are equal, so softmax gives 0.5 each, the loss is ln 2 and
        dL/dlogits = p - onehot(target) = [-0.5, 0.5];
      - the filter gradient is [[1, -3.5], [-0.5, -3]] and the bias's 0.5.
    """
    model = TinyCNN()
    parameters = ("conv.weight", "conv.bias", "fc.weight", "fc.bias")
    model.load_state_dict({name: np.array(TINY_CNN_NUMBERS[name], dtype=np.float32) for name in parameters})
    image = Tensor(np.array(TINY_CNN_NUMBERS["input"], dtype=np.float32), requires_grad=True, name="input")
    target = Tensor(np.array(TINY_CNN_NUMBERS["target"]), name="target")
    steps = model(image)
    loss = F.cross_entropy(steps["logits"], target)
    loss.name = "loss"
    tensors = {
        "input": image,
        "conv.weight": model.conv.weight,
        "conv.bias": model.conv.bias,
        "conv_out": steps["conv_out"],
        "relu_out": steps["relu_out"],
        "pool_out": steps["pool_out"],
        "flat": steps["flat"],
        "fc.weight": model.fc.weight,
        "fc.bias": model.fc.bias,
        "logits": steps["logits"],
        "target": target,
        "loss": loss,
    }
    if run_backward:
        retain_grads(loss)
        loss.backward()
    return tensors


def model_training_step(name: str, batch_size: int = 2, seed: int | None = 0, run_backward: bool = True) -> Tensor:
    """One training step of a ready-made model on random 28x28 images:
    forward, cross-entropy loss, backward. Returns the loss, whose graph
    shows every intermediate gradient. With run_backward=False, the loss
    as the forward pass left it (for `step_through`, which runs backward itself).

    seed: passed to `manual_seed` first, so the weights and images (and every
    drawing of them) are the same from run to run; None leaves the library's
    random generator as it is.
    """
    from ..creation import manual_seed, randn
    from ..models import build_model

    if seed is not None:
        manual_seed(seed)
    model = build_model(name)
    images = randn(batch_size, 1, 28, 28)
    images.name = "images"
    labels = Tensor(np.arange(batch_size) % 10, name="labels")
    logits = model(images)
    loss = F.cross_entropy(logits, labels)
    loss.name = "loss"
    if run_backward:
        retain_grads(loss)
        loss.backward()
    return loss
