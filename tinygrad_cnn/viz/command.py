"""The `tinygrad-cnn graph` command."""

from __future__ import annotations

import argparse
import sys

from ..engine import Tensor
from .drawing import _RANKDIRS, FORMATS, GraphvizNotFoundError, draw_graph, render_graph
from .examples import chain_rule_example, model_training_step, tiny_cnn_example

__all__ = ["graph_command"]


def graph_command(argv: list[str] | None = None) -> int:
    """`tinygrad-cnn graph`: draw the chain-rule example, the tiny CNN or a model's training step.

    tinygrad-cnn graph --example chain-rule -o chain.svg
    tinygrad-cnn graph --example tiny-cnn --backward -o tiny_cnn_backward.svg
    tinygrad-cnn graph --model lenet -o lenet.svg --collapse-modules
    tinygrad-cnn graph --example chain-rule --html -o steps.html   # the step-through page
    tinygrad-cnn graph --model lenet --summary                     # each layer's output shape and parameters
    """
    parser = argparse.ArgumentParser(
        prog="tinygrad-cnn graph",
        description="Draw a computation graph with its values and gradients (needs Graphviz's dot, "
        "except for the DOT format).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--example",
        choices=["chain-rule", "tiny-cnn"],
        help="chain-rule: the textbook example f = (x + y) * z; tiny-cnn: a 4x4 image through conv, ReLU, "
        "max-pool and fc, with numbers checkable by hand",
    )
    source.add_argument("--model", metavar="NAME", help="one training step of a model (e.g. lenet) on two images")
    parser.add_argument("-o", "--output", help="the file to write; without it the DOT text is printed")
    parser.add_argument("--format", choices=FORMATS, help="output format (default: from the file name, else svg)")
    parser.add_argument("--backward", action="store_true", help="draw the backward pass")
    parser.add_argument("--html", action="store_true", help="write the step-through page (needs -o)")
    parser.add_argument("--collapse-modules", action="store_true", help="draw each module as one box")
    parser.add_argument(
        "--summary", action="store_true",
        help="print the model's layers with their output shapes and parameter counts instead of drawing (with --model)",
    )
    parser.add_argument(
        "--rankdir", choices=_RANKDIRS, help="direction of the layout (default: TB for tiny-cnn, else LR)"
    )
    parser.add_argument("--batch-size", type=int, default=2, help="images in the model's batch (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the model's weights and images (default 0)")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.html and args.output is None:
        parser.error("--html needs -o FILE.html")
    if args.summary:
        if args.model is None:
            parser.error("--summary needs --model NAME")
        if args.output is not None or args.html or args.backward:
            parser.error("--summary prints a table: it takes no -o, --html or --backward")
        return _summary_command(args)
    if args.html:
        return _html_command(args)

    rankdir = args.rankdir or ("TB" if args.example == "tiny-cnn" else "LR")
    root = _build_root(args, run_backward=True)
    if root is None:
        return 2
    options = {"backward": args.backward, "collapse_modules": args.collapse_modules, "rankdir": rankdir}
    if args.output is None:
        print(draw_graph(root, **options).source)
        return 0
    try:
        written = render_graph(root, args.output, format=args.format, **options)
    except (GraphvizNotFoundError, ValueError) as error:
        print(f"tinygrad-cnn graph: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # e.g. a folder of the path cannot be made, or no permission
        print(f"tinygrad-cnn graph: cannot write {args.output}: {error}", file=sys.stderr)
        return 1
    print(f"wrote {written}")
    return 0


def _summary_command(args: argparse.Namespace) -> int:
    """The model's summary for a batch of --batch-size 28x28 images (the models are built for them)."""
    from ..models import build_model
    from ..nn.summary import summary

    try:
        model = build_model(args.model)
    except ValueError as error:
        print(f"tinygrad-cnn graph: {error}", file=sys.stderr)
        return 2
    summary(model, (args.batch_size, 1, 28, 28))
    return 0


def _html_command(args: argparse.Namespace) -> int:
    """The step-through page: the graph is built, then step_through runs its backward pass."""
    from .stepper import save_stepper

    root = _build_root(args, run_backward=False)
    if root is None:
        return 2
    # The page lays out a network top to bottom unless --rankdir says otherwise.
    options = {"rankdir": args.rankdir}
    if args.collapse_modules:
        options["collapse_modules"] = True
    try:
        written = save_stepper(root, args.output, **options)
    except GraphvizNotFoundError as error:
        print(f"tinygrad-cnn graph: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"tinygrad-cnn graph: cannot write {args.output}: {error}", file=sys.stderr)
        return 1
    print(f"wrote {written}")
    return 0


def _build_root(args: argparse.Namespace, run_backward: bool) -> Tensor | None:
    """The graph the command draws: an example or a model's training step (None after an error).

    With run_backward=False the graph is as the forward pass left it, for the
    page, which runs the backward pass itself."""
    if args.example == "chain-rule":
        return chain_rule_example(run_backward=run_backward)["f"]
    if args.example == "tiny-cnn":
        return tiny_cnn_example(run_backward=run_backward)["loss"]
    try:
        return model_training_step(args.model, args.batch_size, seed=args.seed, run_backward=run_backward)
    except ValueError as error:
        print(f"tinygrad-cnn graph: {error}", file=sys.stderr)
        return None
