"""Training an image classifier on MNIST or Fashion-MNIST: the loop behind `tinygrad-cnn train`.

One epoch is:

    model.train()
    for images, labels in shuffled mini-batches:
        logits = model(images)                      # forward pass, graph recorded
        loss = F.cross_entropy(logits, labels)      # mean over the batch
        optimizer.zero_grad()                       # forget the last step's gradients
        loss.backward()                             # gradients of every parameter
        optimizer.step()                            # update the parameters
    model.eval()
    with no_grad(): evaluate on the test set         # no graph, dropout off, running BN stats

After every epoch `train` writes, into its output directory:

* ``checkpoint.npz``: everything needed to continue exactly where it stopped
  (model and optimizer state, epoch, the library's random generator state,
  the settings and the metrics so far), written atomically;
* ``metrics.csv``: one row per epoch;
* ``curves.png``: loss and accuracy per epoch so far (if matplotlib is installed).

Resuming from a checkpoint gives bit-for-bit the same parameters and metrics
as a run that was never interrupted: every source of randomness (shuffling,
dropout) draws from the library generator, whose state is saved.

The package, one concept per file:

* ``config``: TrainConfig (the settings), the optimizer and the learning-rate schedule they name;
* ``dataset``: loading, limiting and normalising the images;
* ``epochs``: one pass over the training data;
* ``evaluation``: predictions, loss, accuracy, the confusion matrix;
* ``progress``: the progress bar;
* ``checkpoint``: saving, loading and restoring checkpoints;
* ``checkpoint_checks``: what a checkpoint must hold, checked before it is used;
* ``errors``: TrainingError (bad input), DivergenceError (nan or inf in training),
  TrainingInterrupted (Ctrl-C, with the checkpoint to resume from);
* ``atomic``: writing files atomically;
* ``metrics``: the metrics CSV;
* ``plots``: the loss and accuracy curves;
* ``run``: the whole run, ``train()``.
"""

from __future__ import annotations

from ..atomic import atomic_write
from .checkpoint import (
    CHECKPOINT_NAME,
    Checkpoint,
    load_checkpoint,
    load_model_state,
    restore,
    save_checkpoint,
)
from .config import (
    DATASETS,
    DEFAULT_LR,
    OPTIMIZERS,
    SCHEDULES,
    TrainConfig,
    build_optimizer,
    build_scheduler,
)
from .dataset import MNIST_CLASSES, class_names, load_dataset
from .epochs import EpochResult, first_non_finite_parameter, train_epoch
from .errors import DivergenceError, TrainingError, TrainingInterrupted
from .evaluation import (
    EVAL_BATCH_SIZE,
    confusion_matrix,
    evaluate,
    evaluate_checkpoint,
    format_confusion_matrix,
    predict,
)
from .metrics import METRICS_COLUMNS, METRICS_NAME, read_metrics_csv, write_metrics_csv
from .plots import CURVES_NAME, PLOT_INSTALL_HINT, load_pyplot, plot_curves
from .progress import Progress
from .run import OUTPUT_NAMES, WATCH_STEPS, check_output_dir, train

__all__ = [
    "CHECKPOINT_NAME", "CURVES_NAME", "Checkpoint", "DATASETS", "DEFAULT_LR", "DivergenceError",
    "EVAL_BATCH_SIZE", "EpochResult", "METRICS_COLUMNS", "METRICS_NAME", "MNIST_CLASSES", "OPTIMIZERS",
    "OUTPUT_NAMES", "PLOT_INSTALL_HINT", "Progress", "SCHEDULES", "TrainConfig", "TrainingError",
    "TrainingInterrupted", "WATCH_STEPS", "atomic_write", "build_optimizer", "build_scheduler",
    "check_output_dir", "class_names", "confusion_matrix", "evaluate", "evaluate_checkpoint",
    "first_non_finite_parameter", "format_confusion_matrix", "load_checkpoint", "load_dataset", "load_model_state",
    "load_pyplot", "plot_curves", "predict", "read_metrics_csv", "restore", "save_checkpoint", "train",
    "train_epoch", "write_metrics_csv",
]
