"""Pictures of the computation graph: the forward pass and the backward pass.

- `drawing`: `draw_graph` and `render_graph`, static drawings laid out by Graphviz;
- `examples`: ready-made graphs (the chain-rule example, the tiny CNN, a model's training step);
- `command`: the `tinygrad-cnn graph` command.
"""

from .command import graph_command
from .drawing import FORMATS, GraphvizNotFoundError, draw_graph, render_graph, retain_grads, wire_rules
from .examples import TinyCNN, chain_rule_example, model_training_step, tiny_cnn_example

__all__ = [
    "FORMATS",
    "GraphvizNotFoundError",
    "TinyCNN",
    "chain_rule_example",
    "draw_graph",
    "graph_command",
    "model_training_step",
    "render_graph",
    "retain_grads",
    "tiny_cnn_example",
    "wire_rules",
]
