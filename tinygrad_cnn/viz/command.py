"""The `tinygrad-cnn graph` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..command_line import USAGE_ERROR, OneLineParser, UsageError
from ..output_folder import OutputFolderError, check_output_folder, create_output_folder
from ..tensor import Tensor
from .drawing import FORMATS, RANKDIRS, GraphvizNotFoundError, draw_graph, format_from_path, render_graph
from .examples import chain_rule_example, model_training_step, tiny_cnn_example

__all__ = ["graph_command"]

PROG = "tinygrad-cnn graph"


def graph_command(argv: list[str] | None = None) -> int:
    """`tinygrad-cnn graph`: draw the chain-rule example, the tiny CNN or a model's training step.

    tinygrad-cnn graph --example chain-rule -o chain.svg
    tinygrad-cnn graph --example tiny-cnn --backward -o tiny_cnn_backward.svg
    tinygrad-cnn graph --model lenet -o lenet.svg --collapse-modules
    tinygrad-cnn graph --example chain-rule --html -o steps.html   # the step-through page
    tinygrad-cnn graph --model lenet --summary                     # each layer's output shape and parameters

    A mistake in the options is one line on stderr and SystemExit(2), checked
    before any graph is built: an -o whose file name names no format, --format
    and -o that disagree, --format other than dot without -o, an -o in a folder
    where no file can be created. Missing folders of -o are created, and the
    command says so. Returns the exit status: 0, 2 (an unknown model), or 1
    (Graphviz missing, or writing failed).
    """
    parser = OneLineParser(
        prog=PROG,
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
    parser.add_argument("-o", "--output", help="the file to write (missing folders are created); without it the DOT "
                        "text is printed")
    parser.add_argument("--format", choices=FORMATS, help="output format (default: from the file name's suffix; "
                        "svg when it has none)")
    parser.add_argument("--backward", action="store_true", help="draw the backward pass")
    parser.add_argument("--html", action="store_true", help="write the step-through page (needs -o)")
    parser.add_argument("--collapse-modules", action="store_true", help="draw each module as one box")
    parser.add_argument(
        "--summary", action="store_true",
        help="print the model's layers with their output shapes and parameter counts instead of drawing (with --model)",
    )
    parser.add_argument(
        "--rankdir", choices=RANKDIRS, help="direction of the layout (default: TB for tiny-cnn, else LR)"
    )
    parser.add_argument("--batch-size", type=int, default=2, help="images in the model's batch (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the model's weights and images (default 0)")
    try:
        args = parser.parse_args(argv)
        _check_options(args)
        if args.output is not None:
            check_output_folder(_folder_of(args.output), "-o", args.output)
    except (UsageError, OutputFolderError) as error:
        _print_error(error)
        raise SystemExit(USAGE_ERROR) from None
    if args.summary:
        return _summary_command(args)
    if args.html:
        return _html_command(args)

    rankdir = args.rankdir or ("TB" if args.example == "tiny-cnn" else "LR")
    root = _build_root(args, run_backward=True)
    if root is None:
        return USAGE_ERROR
    options = {"backward": args.backward, "collapse_modules": args.collapse_modules, "rankdir": rankdir}
    if args.output is None:
        print(draw_graph(root, **options).source)
        return 0
    try:
        _create_folder(args.output)
        written = render_graph(root, args.output, format=args.format, **options)
    except (GraphvizNotFoundError, OutputFolderError, RuntimeError, OSError) as error:  # no `dot`, or writing failed
        _print_error(f"cannot write {args.output}: {error}")
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
        _print_error(str(error))
        return USAGE_ERROR
    summary(model, (args.batch_size, 1, 28, 28))
    return 0


def _check_options(args: argparse.Namespace) -> None:
    """UsageError for options that cannot work together, before any graph is built."""
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.output == "":
        raise UsageError("-o must name a file, got an empty string")
    if args.summary:
        if args.model is None:
            raise UsageError("--summary needs --model NAME")
        if args.output is not None or args.html or args.backward:
            raise UsageError("--summary prints a table: it takes no -o, --html or --backward")
        return
    if args.html:
        if args.output is None:
            raise UsageError("--html needs -o FILE.html")
        if args.format is not None:
            raise UsageError(f"--format {args.format} does not apply to --html (the page is an HTML file)")
        return
    if args.output is None:
        if args.format not in (None, "dot"):
            raise UsageError(f"--format {args.format} needs -o FILE; without -o the DOT text is printed")
        return
    named = _format_named_by(args.output)
    if args.format is None and named is None:
        raise UsageError(f"-o {args.output}: cannot tell the format from the file name; end it in "
                         f"{_suffixes()}, or pass --format")
    has_suffix = Path(args.output).suffix != ""
    if args.format is not None and has_suffix and named is not None and named != args.format:
        raise UsageError(f"--format {args.format} and -o {args.output} disagree; end the file name in "
                         f".{args.format} or drop --format")


def _folder_of(output: str) -> str:
    return os.path.dirname(output) or "."  # "." for a bare file name: the current folder


def _create_folder(output: str) -> None:
    """Create the missing folders of -o (the options were checked before any work), and say so."""
    created = create_output_folder(_folder_of(output), "-o", output)
    if created:
        print(f"created folder {created[-1]}")


def _format_named_by(output: str) -> str | None:
    """The format the file name's suffix names (svg when it has none), or None for an unknown suffix."""
    try:
        return format_from_path(Path(output), None)
    except ValueError:
        return None


def _suffixes() -> str:
    """'.svg, .png, .pdf or .dot'"""
    names = ["." + name for name in FORMATS]
    return f"{', '.join(names[:-1])} or {names[-1]}"


def _print_error(error: object) -> None:
    print(f"{PROG}: error: {error}", file=sys.stderr)


def _html_command(args: argparse.Namespace) -> int:
    """The step-through page: the graph is built, then step_through runs its backward pass."""
    from .stepper import save_stepper

    root = _build_root(args, run_backward=False)
    if root is None:
        return USAGE_ERROR
    # The page lays out a network top to bottom unless --rankdir says otherwise.
    options = {"rankdir": args.rankdir}
    if args.collapse_modules:
        options["collapse_modules"] = True
    try:
        _create_folder(args.output)
        written = save_stepper(root, args.output, **options)
    except (GraphvizNotFoundError, OutputFolderError, RuntimeError, OSError) as error:  # no `dot`, or writing failed
        _print_error(f"cannot write {args.output}: {error}")
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
        _print_error(error)
        return None
