"""A whole training run: epochs, evaluation, checkpoints, metrics and plots."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ..command_line import plural
from ..creation import manual_seed
from ..data import DataLoader
from ..memory import release_free_memory, resident_memory_mb
from ..models import build_model
from ..nn import Module
from ..output_folder import OutputFolderError, check_output_folder, create_output_folder
from .checkpoint import CHECKPOINT_NAME, load_checkpoint, restore, save_checkpoint
from .checkpoint_checks import first_non_finite
from .config import TrainConfig, build_optimizer, build_scheduler, is_int
from .dataset import load_dataset
from .epochs import train_epoch
from .errors import DivergenceError, TrainingError, TrainingInterrupted
from .evaluation import evaluate
from .metrics import METRICS_NAME, write_metrics_csv
from .plots import CURVES_NAME, PLOT_INSTALL_HINT, load_pyplot, plot_curves
from .progress import Progress

if TYPE_CHECKING:
    from ..viz.training_page import TrainingRecorder

# How many steps `train --watch` records by default.
WATCH_STEPS = 20

# Every file a run writes into --out.
OUTPUT_NAMES = (CHECKPOINT_NAME, METRICS_NAME, CURVES_NAME)


def check_output_dir(out_dir: str, resume: str | None, overwrite: bool) -> None:
    """Refuse to write into a directory holding another run's results (any file a run writes).

    Allowed: a new or empty directory, --overwrite, or resuming from the
    checkpoint that is in that very directory.
    """
    if out_dir == "":
        raise TrainingError("--out must name a folder, got an empty string")
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise TrainingError(f"--out {out_dir} exists and is not a directory")
    if overwrite:
        return
    existing = [name for name in OUTPUT_NAMES if os.path.exists(os.path.join(out_dir, name))]
    if not existing:
        return
    own_checkpoint = os.path.join(out_dir, CHECKPOINT_NAME)
    if resume is not None and os.path.exists(own_checkpoint) and os.path.samefile(resume, own_checkpoint):
        return
    raise TrainingError(
        f"{out_dir} already holds {_join_names(existing)} from another run; "
        "choose another --out, pass --resume to continue it, or --overwrite to replace it"
    )


def _join_names(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} and {names[-1]}"


def train(
    config: TrainConfig | None = None,
    out_dir: str | None = None,
    resume: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
    watch: str | None = None,
    watch_steps: int = WATCH_STEPS,
) -> list[dict[str, float]]:
    """Train config.model on config.dataset; return one dict of metrics per epoch.

    config: the settings (TrainConfig() gives the defaults). When resuming,
        the settings saved in the checkpoint are used instead.
    out_dir: where checkpoint.npz, metrics.csv and curves.png go (None: write
        nothing; resuming writes next to the checkpoint unless out_dir is given).
        It is checked before any work (a probe file is created and removed),
        so a place where nothing can be written is a TrainingError at once,
        not after an epoch; missing folders are created once the data is loaded.
    resume: path of a checkpoint to continue from, up to config.epochs.
    overwrite: allow replacing another run's files in out_dir.
    progress: show a progress bar per epoch.
    log: where the per-epoch summary lines go (None: silent).
    data: (x_train, y_train, x_test, y_test) to use instead of loading the dataset.
    on_epoch_end: called with each epoch's metrics once its checkpoint is written.
    watch: an HTML file: the first `watch_steps` steps of this run are recorded
        into a training page (viz.save_training_page's), written there as soon
        as they are done (at most the first epoch's); training then goes on
        unchanged. The path is checked to be writable before any data is
        loaded or any step trained.

    Each history entry has epoch, train_loss, train_accuracy, test_loss,
    test_accuracy, seconds (training + evaluation wall time), train_seconds,
    images_per_second and rss_mb (resident memory after the epoch).

    Ctrl-C raises TrainingInterrupted (a KeyboardInterrupt) whose `checkpoint`
    is the path --resume can continue from, or None when there is none.
    """
    say = log if log is not None else (lambda message: None)
    checkpoint = None
    if resume is not None:
        # The checkpoint is read and checked in full here, before any data is
        # loaded or any step trained.
        checkpoint = load_checkpoint(resume)
        epochs = config.epochs if config is not None else checkpoint.config.epochs
        # Only the length of the run may change; everything else must match
        # the checkpoint for the continuation to be exact.
        config = checkpoint.config
        config.epochs = epochs
        config.validate()
        if config.epochs < checkpoint.epoch:
            raise TrainingError(f"{resume} has already trained {plural(checkpoint.epoch, 'epoch')}, more than "
                                f"--epochs {config.epochs}; pass --epochs N with N > {checkpoint.epoch} to train more")
        if out_dir is None:
            out_dir = os.path.dirname(os.path.abspath(resume))
    config = config if config is not None else TrainConfig()
    config.validate()
    if out_dir is not None:
        check_output_dir(out_dir, resume, overwrite)
        try:
            check_output_folder(out_dir, "--out")
        except OutputFolderError as error:
            raise TrainingError(str(error)) from None
    if watch is not None:
        _check_watch(watch, watch_steps)

    manual_seed(config.seed)
    model = build_model(config.model)
    optimizer = build_optimizer(config, model.parameters())
    history: list[dict[str, float]] = []
    start_epoch = 1
    if checkpoint is not None and resume is not None:  # both set, or neither
        restore(checkpoint, resume, model, optimizer)
        history = [dict(row) for row in checkpoint.history]
        start_epoch = checkpoint.epoch + 1
        if start_epoch > config.epochs:
            say(f"{resume} has already trained {plural(checkpoint.epoch, 'epoch')}; pass --epochs N with N > "
                f"{checkpoint.epoch} to train more")
            return history

    # What --resume can continue from if Ctrl-C stops the run: the resumed
    # checkpoint until this run writes its own.
    last_checkpoint = resume
    try:
        if data is None:
            data = load_dataset(config.dataset, config.data_dir, config.limit_train, config.limit_test)
        x_train, y_train, x_test, y_test = data
        if checkpoint is not None:
            say(f"resuming from {resume} after epoch {checkpoint.epoch}")

        if out_dir is not None:
            try:
                create_output_folder(out_dir, "--out")
            except OutputFolderError as error:
                raise TrainingError(str(error)) from None
            # Imported now rather than after the first epoch, so that the memory it
            # takes is there from the start and the per-epoch memory is comparable.
            load_pyplot()
        # Shuffled with the library generator (seed=None), whose state the checkpoint keeps.
        loader = DataLoader(x_train, y_train, batch_size=config.batch_size, shuffle=True)
        # The schedule counts batches from the start of the run.
        scheduler = build_scheduler(config, optimizer, config.epochs * len(loader), (start_epoch - 1) * len(loader))
        base_lr = config.learning_rate
        recorder = None
        watch_reported = False
        if watch is not None:
            from ..viz.training_page import TrainingRecorder  # the page is needed only with --watch

            # The feature maps are those of the first training image, whatever the shuffling.
            recorder = TrainingRecorder(model, optimizer, watch_steps, image=x_train[0], who="train --watch",
                                        path=watch, title=f"The first {watch_steps} steps of {config.model} on "
                                        f"{config.dataset} ({config.optimizer} lr {base_lr:g})")

        say(f"model {config.model} ({plural(model.num_parameters(), 'parameter')}), {config.dataset}: "
            f"{len(x_train):,} training / {plural(len(x_test), 'test image')}, {config.optimizer} lr {base_lr:g} "
            f"({config.schedule}), batch {config.batch_size}, {plural(config.epochs, 'epoch')}")
        plotted = False
        for epoch in range(start_epoch, config.epochs + 1):
            bar = Progress(len(x_train), f"epoch {epoch}/{config.epochs}") if progress else None
            stopped = True  # until the epoch ends normally
            try:
                # The divergence guard reports a nan or inf in one line; numpy's
                # overflow warnings on the way there would only repeat it.
                with np.errstate(over="ignore", invalid="ignore"):
                    result = train_epoch(model, optimizer, loader, scheduler, bar, epoch, recorder)
                stopped = False
            except DivergenceError as err:
                raise DivergenceError(f"{err}; {_kept_checkpoint(out_dir)}", err.epoch, err.step) from None
            finally:
                if bar is not None:
                    bar.close()
                if recorder is not None and not watch_reported:
                    watch_reported = _write_watch_page(recorder, say, stopped)
            eval_start = time.perf_counter()
            with np.errstate(over="ignore", invalid="ignore"):
                test_loss, test_accuracy, _ = evaluate(model, x_test, y_test)
            _check_finite_after_epoch(model, test_loss, epoch, len(loader), out_dir)
            seconds = result.seconds + time.perf_counter() - eval_start
            row = {
                "epoch": epoch,
                "train_loss": result.loss,
                "train_accuracy": result.accuracy,
                "test_loss": test_loss,
                "test_accuracy": test_accuracy,
                "seconds": seconds,
                "train_seconds": result.seconds,
                "images_per_second": len(x_train) / result.seconds,
            }
            history.append(row)
            say(f"epoch {epoch}/{config.epochs}: train loss {result.loss:.4f} acc {result.accuracy:.4f} | "
                f"test loss {test_loss:.4f} acc {test_accuracy:.4f} | {seconds:.1f} s "
                f"({row['images_per_second']:,.0f} img/s)")
            if out_dir is not None:
                plotted = plot_curves(os.path.join(out_dir, CURVES_NAME), history)
            release_free_memory()
            row["rss_mb"] = resident_memory_mb()
            if out_dir is not None:
                save_checkpoint(os.path.join(out_dir, CHECKPOINT_NAME), model, optimizer, epoch, config, history)
                last_checkpoint = os.path.join(out_dir, CHECKPOINT_NAME)
                write_metrics_csv(os.path.join(out_dir, METRICS_NAME), history)
            if on_epoch_end is not None:
                on_epoch_end(row)
    except KeyboardInterrupt:
        raise TrainingInterrupted(last_checkpoint) from None

    if out_dir is not None:
        written = [os.path.join(out_dir, name) for name in (CHECKPOINT_NAME, METRICS_NAME)]
        if plotted:
            say(f"wrote {', '.join(written)}, {os.path.join(out_dir, CURVES_NAME)}")
        else:
            say(f"wrote {' and '.join(written)}; for the plot curves.png {PLOT_INSTALL_HINT}")
    return history


def _check_watch(watch: str, watch_steps: int) -> None:
    """The --watch page must be writable and --watch-steps an integer >= 1, before any training."""
    if not is_int(watch_steps) or watch_steps < 1:
        raise TrainingError(f"--watch-steps must be an integer >= 1, got {watch_steps!r}")
    from ..viz.training_page import check_page_path

    try:
        check_page_path(watch, "--watch", who="")
    except (TypeError, ValueError) as err:  # an OSError (no permission, ...) stays one
        raise TrainingError(str(err)) from None


def _write_watch_page(recorder: TrainingRecorder, say: Callable[[str], None], stopped: bool) -> bool:
    """At the end of an epoch: say where the --watch page went (the recorder wrote it when its
    steps were done), or write the steps recorded so far (an epoch shorter than --watch-steps, or
    a run `stopped` by an error or Ctrl-C). True once the page is written."""
    if not recorder.written:
        done, asked = recorder.record.steps, recorder.steps
        if stopped:
            say(f"--watch: the run stopped after {done} of the {asked} steps to record")
        else:
            say(f"--watch: the first epoch had only {done} of the {asked} steps to record")
        recorder.finish()
    if recorder.written:
        say(f"wrote the first {recorder.record.steps} steps to {recorder.path} (--watch)")
    return recorder.written


def _check_finite_after_epoch(model: Module, test_loss: float, epoch: int, steps: int, out_dir: str | None) -> None:
    """DivergenceError unless the model's whole state and its test loss are finite.

    Batch norm's running statistics are not parameters (train_epoch checks
    those after every step), and weights can be finite yet so large that the
    test logits overflow: neither may reach a checkpoint.
    """
    broken = first_non_finite(dict(model.state_dict()), "")
    if broken is None and math.isfinite(test_loss):
        return
    what = f"{broken} became nan or inf" if broken is not None else f"the test loss is {test_loss}"
    raise DivergenceError(f"training diverged in epoch {epoch}, after its last step ({steps}/{steps}): {what}; "
                          f"try a lower learning rate (--lr); {_kept_checkpoint(out_dir)}", epoch, steps)


def _kept_checkpoint(out_dir: str | None) -> str:
    """What the message of a diverged run says about the checkpoint on disk."""
    if out_dir is None:
        return "nothing was saved"
    path = os.path.join(out_dir, CHECKPOINT_NAME)
    if not os.path.exists(path):
        return "no checkpoint was written"
    # The checkpoint on disk is that of the last finished epoch (written by
    # this run, or the one it resumed from).
    return f"the last checkpoint, {path}, is kept as it was"
