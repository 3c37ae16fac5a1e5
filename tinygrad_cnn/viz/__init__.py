"""Pictures of the computation graph: the forward pass and the backward pass.

- `drawing`: `draw_graph` and `render_graph`, static drawings laid out by Graphviz;
- `examples`: ready-made graphs (the chain-rule example, the tiny CNN, a model's training step);
- `recorder`: `record_backward`, a record of what the engine's backward pass did, node by node;
- `stepper`: `step_through` and `save_stepper`, a page that steps through that record in a browser;
- `training_page`: `save_training_page`, a page that replays training steps: the loss, the filters, their
  gradients and updates, the first layer's feature maps;
- `command`: the `tinygrad-cnn graph` command;
- `arrays` and `page_file`: what the drawings and the pages share (array statistics, exact bytes; the
  HTML file around a page, its security policy and colour scales).
"""

from .command import graph_command
from .drawing import FORMATS, GraphvizNotFoundError, draw_graph, render_graph, retain_grads, wire_rules
from .examples import TinyCNN, chain_rule_example, model_training_step, tiny_cnn_example
from .recorder import Tape, record_backward
from .stepper import Stepper, save_stepper, step_through
from .training_page import TrainingRecord, TrainingRecorder, save_training_page

__all__ = [
    "FORMATS",
    "GraphvizNotFoundError",
    "TinyCNN",
    "Stepper",
    "Tape",
    "TrainingRecord",
    "TrainingRecorder",
    "chain_rule_example",
    "draw_graph",
    "graph_command",
    "model_training_step",
    "record_backward",
    "render_graph",
    "retain_grads",
    "tiny_cnn_example",
    "wire_rules",
    "save_stepper",
    "save_training_page",
    "step_through",
]
