"""The `tinygrad-cnn` command (also `python -m tinygrad_cnn`).

    tinygrad-cnn train [options]              train a model, write checkpoint, metrics and plot
    tinygrad-cnn evaluate --checkpoint PATH   test accuracy and confusion matrix of a saved model
    tinygrad-cnn graph ...                    draw a computation graph (see `tinygrad-cnn graph --help`)
    tinygrad-cnn --version

Mistakes in the options (unknown names, a learning rate <= 0, missing data,
an --out where no file can be created, a damaged checkpoint...) end the
command with one line on stderr naming the option, `tinygrad-cnn: error: ...`,
and exit status 2; nothing already on disk is changed. Exit statuses:

    0    done
    1    an operating-system error while writing (e.g. a full disk)
    2    bad options or input (checked before any training)
    3    training diverged (a nan or inf loss or parameter); the last checkpoint is kept
    130  interrupted (Ctrl-C); the message names the checkpoint to --resume from, if any
    141  the reader of the output went away (e.g. `tinygrad-cnn graph | head`): stopped quietly, as Unix tools do
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .command_line import BROKEN_PIPE, DIVERGED, INTERRUPTED, USAGE_ERROR, OneLineParser, UsageError, plural

PROG = "tinygrad-cnn"


def _int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _build_parser() -> OneLineParser:
    # Imported here so that `tinygrad-cnn --help` and `graph` start fast.
    from .models import DEFAULT_MODEL, MODELS
    from .train import DATASETS, DEFAULT_LR, OPTIMIZERS, SCHEDULES, WATCH_STEPS, TrainConfig

    defaults = TrainConfig()
    parser = OneLineParser(prog=PROG, description="Train and inspect small CNNs built on tinygrad_cnn.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)

    # Options default to None so a resumed run can tell which ones were given.
    train = commands.add_parser(
        "train", help="train a model on MNIST or Fashion-MNIST",
        description="Train a classifier; after every epoch write checkpoint.npz, metrics.csv and "
        "curves.png into --out, and evaluate on the test set.",
    )
    train.add_argument("--dataset", choices=DATASETS, default=None,
                       help=f"the dataset (default {defaults.dataset})")
    train.add_argument("--data-dir", default=None,
                       help="directory with the four IDX files (needed for mnist; default for fashion-mnist: "
                       "the system's dataset directory)")
    train.add_argument("--model", default=None,
                       help=f"one of {', '.join(sorted(MODELS))} (default {DEFAULT_MODEL})")
    train.add_argument("--epochs", type=_int, default=None,
                       help=f"number of passes over the training set (default {defaults.epochs}; "
                       "when resuming: the saved value)")
    train.add_argument("--batch-size", type=_int, default=None,
                       help=f"images per step (default {defaults.batch_size})")
    train.add_argument("--optimizer", default=None,
                       help=f"one of {', '.join(OPTIMIZERS)} (default {defaults.optimizer})")
    lr_defaults = ", ".join(f"{name} {lr:g}" for name, lr in DEFAULT_LR.items())
    train.add_argument("--lr", type=_float, default=None, help=f"learning rate (default: {lr_defaults})")
    train.add_argument("--momentum", type=_float, default=None,
                       help=f"momentum of sgd and rmsprop (default {defaults.momentum})")
    train.add_argument("--weight-decay", type=_float, default=None,
                       help="L2 penalty (default: adamw 0.01, the others 0)")
    train.add_argument("--schedule", choices=SCHEDULES, default=None,
                       help=f"learning rate schedule (default {defaults.schedule})")
    train.add_argument("--seed", type=int, default=None, help=f"random seed (default {defaults.seed})")
    train.add_argument("--limit-train", type=_int, default=None, metavar="N",
                       help="train on the first N training images only")
    train.add_argument("--limit-test", type=_int, default=None, metavar="N",
                       help="test on the first N test images only")
    train.add_argument("--out", default=None, metavar="DIR",
                       help="output directory, created when missing (default runs/DATASET-MODEL; when resuming: "
                       "the checkpoint's)")
    train.add_argument("--resume", default=None, metavar="PATH",
                       help="continue from a checkpoint.npz with its saved settings")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the results of another run in --out")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--watch", default=None, metavar="F.html",
                       help="record the first steps (--watch-steps, at most one epoch) into a page that shows the "
                       "loss, every conv filter, its gradient and update, and conv1's feature maps; "
                       "training then goes on as usual")
    train.add_argument("--watch-steps", type=_int, default=None, metavar="N",
                       help=f"how many steps --watch records (default {WATCH_STEPS})")
    train.add_argument(
        "--detect-anomaly", action="store_true",
        help="check every gradient for nan/inf and name the op that made it, with where it was recorded (slower)",
    )

    evaluate = commands.add_parser(
        "evaluate", help="test accuracy and confusion matrix of a checkpoint",
        description="Evaluate a saved model on the test set of the dataset it was trained on.",
    )
    evaluate.add_argument("--checkpoint", required=True, metavar="PATH", help="a checkpoint.npz")
    evaluate.add_argument("--data-dir", default=None, help="directory with the IDX files (default: the saved one)")
    evaluate.add_argument("--limit-test", type=_int, default=None, metavar="N",
                          help="use the first N test images only")
    evaluate.add_argument("--model", default=None,
                          help="the architecture to load the weights into (default: the saved one)")

    commands.add_parser("graph", help="draw the computation graph of a model (see `tinygrad-cnn graph --help`)",
                        add_help=False)
    return parser


def _train_command(args: argparse.Namespace) -> int:
    from .anomaly import detect_anomaly
    from .train import WATCH_STEPS, TrainConfig, train

    given = {
        "dataset": args.dataset, "data_dir": args.data_dir, "model": args.model, "epochs": args.epochs,
        "batch_size": args.batch_size, "optimizer": args.optimizer, "lr": args.lr, "momentum": args.momentum,
        "weight_decay": args.weight_decay, "schedule": args.schedule, "seed": args.seed,
        "limit_train": args.limit_train, "limit_test": args.limit_test,
    }
    given = {key: value for key, value in given.items() if value is not None}
    if args.resume is not None:
        # The saved settings are used; only --epochs may extend the run.
        others = sorted(key for key in given if key != "epochs")
        if others:
            names = ", ".join("--" + key.replace("_", "-") for key in others)
            raise UsageError(f"--resume uses the settings saved in the checkpoint; drop {names} "
                              "(only --epochs may be given)")
        # train() takes only the number of epochs from this config when resuming.
        config = TrainConfig(epochs=given["epochs"]) if "epochs" in given else None
        out = args.out
    else:
        config = TrainConfig(**given)
        config.validate()  # fail on bad options before anything is loaded or written
        out = args.out if args.out is not None else os.path.join("runs", f"{config.dataset}-{config.model}")
    if args.watch_steps is not None and args.watch is None:
        raise UsageError("--watch-steps needs --watch F.html, the page to record the steps into")
    watch_steps = args.watch_steps if args.watch_steps is not None else WATCH_STEPS
    # Anomaly mode must be on for the forward passes too: that is where each
    # op notes the line of code that recorded it.
    anomaly = detect_anomaly() if args.detect_anomaly else contextlib.nullcontext()
    with anomaly:
        train(config, out_dir=out, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress,
              watch=args.watch, watch_steps=watch_steps)
    return 0


def _evaluate_command(args: argparse.Namespace) -> int:
    from .train import class_names, evaluate_checkpoint, format_confusion_matrix

    loss, accuracy, matrix, config = evaluate_checkpoint(args.checkpoint, args.data_dir, args.limit_test,
                                                         args.model)
    total = int(matrix.sum())
    model = args.model or config.model
    print(f"{args.checkpoint}: model {model}, {config.dataset} test set ({plural(total, 'image')})")
    print(f"accuracy {accuracy:.4f} ({int(matrix.trace()):,}/{total:,}), loss {loss:.4f}")
    print(format_confusion_matrix(matrix, class_names(config.dataset)))
    return 0


def _graph_command(argv: list[str]) -> int:
    # Imported only when asked for: drawing needs the graphviz package.
    from .viz import graph_command

    result: Any = graph_command(argv)
    return int(result or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 on success)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(argv)
    except BrokenPipeError:
        # The reader of our output went away (`tinygrad-cnn graph | head`):
        # stop quietly, as Unix tools do, and keep Python from complaining
        # about the unflushed rest when it exits.
        _silence_stdout()
        return BROKEN_PIPE


def _run(argv: list[str]) -> int:
    if argv and argv[0] == "graph":
        try:
            return _graph_command(argv[1:])
        except SystemExit as stop:  # --help, and a mistake in the options (already printed)
            return stop.code if isinstance(stop.code, int) else 0
        except ImportError as err:
            print(f"{PROG}: error: drawing graphs needs {err.name or 'a missing package'} ({err})", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"{PROG} graph: interrupted", file=sys.stderr)
            return INTERRUPTED

    from .anomaly import AnomalyError
    from .train import DivergenceError, TrainingError, TrainingInterrupted

    try:
        parser = _build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return USAGE_ERROR
        if args.command == "train":
            return _train_command(args)
        return _evaluate_command(args)
    except SystemExit as stop:  # --help and --version exit through argparse
        return stop.code if isinstance(stop.code, int) else 0
    except (UsageError, TrainingError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return USAGE_ERROR
    except (DivergenceError, AnomalyError) as err:  # a nan or inf in the loss, the weights or a gradient
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return DIVERGED
    except BrokenPipeError:
        raise  # handled in main()
    except OSError as err:  # e.g. a full disk while writing a checkpoint
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    except TrainingInterrupted as stop:
        print(f"{PROG}: {_interrupted_message(stop.checkpoint)}", file=sys.stderr)
        return INTERRUPTED
    except KeyboardInterrupt:  # before training started, or in evaluate: nothing was written
        print(f"{PROG}: interrupted; nothing was written", file=sys.stderr)
        return INTERRUPTED


def _interrupted_message(checkpoint: str | None) -> str:
    if checkpoint is None:
        return "interrupted before the first checkpoint was written; there is nothing to resume"
    return f"interrupted; {checkpoint} is intact: continue with --resume {checkpoint}"


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not raise BrokenPipeError again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is no real file (e.g. captured in a test)
        pass
