"""Ready-made graphs to draw: the chain-rule example and a model's training step."""

from __future__ import annotations

import numpy as np

from ..engine import Tensor
from .drawing import retain_grads

__all__ = ["chain_rule_example", "model_training_step"]


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


def model_training_step(name: str, batch_size: int = 2, run_backward: bool = True) -> Tensor:
    """One training step of a ready-made model on random 28x28 images:
    forward, cross-entropy loss, backward. Returns the loss, whose graph
    shows every intermediate gradient. With run_backward=False, the loss
    as the forward pass left it (for `step_through`, which runs backward itself)."""
    from .. import functional as F
    from ..creation import randn
    from ..models import build_model

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
