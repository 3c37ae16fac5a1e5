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
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from . import functional as F
from . import optim
from .creation import get_rng, manual_seed
from .data import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    MNIST_MEAN,
    MNIST_STD,
    DataLoader,
    load_fashion_mnist,
    load_mnist,
    normalize,
    to_float_images,
)
from .engine import Tensor, no_grad
from .memory import keep_freed_memory, release_free_memory, resident_memory_mb
from .models import DEFAULT_MODEL, MODELS, build_model
from .nn import Module

CHECKPOINT_NAME = "checkpoint.npz"
METRICS_NAME = "metrics.csv"
CURVES_NAME = "curves.png"
METRICS_COLUMNS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds")

DATASETS = ("fashion-mnist", "mnist")
MNIST_CLASSES = tuple(str(digit) for digit in range(10))

# The learning rate each optimizer gets when none is given.
DEFAULT_LR = {"sgd": 0.05, "adam": 2e-3, "adamw": 2e-3, "rmsprop": 1e-3, "adagrad": 1e-2}
OPTIMIZERS = tuple(DEFAULT_LR)
SCHEDULES = ("cosine", "constant")

# Test images per forward pass during evaluation (no graph is kept, so this
# only bounds the size of the temporaries).
EVAL_BATCH_SIZE = 500


class TrainingError(Exception):
    """A problem with what the user asked for: a bad option, missing data, a
    checkpoint that does not fit. The command line prints it as one line."""


# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """Everything that decides the result of a training run."""

    dataset: str = "fashion-mnist"
    data_dir: str | None = None  # None: the default Fashion-MNIST location
    model: str = DEFAULT_MODEL
    epochs: int = 5
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float | None = None  # None: DEFAULT_LR[optimizer]
    momentum: float = 0.9  # SGD and RMSprop only
    weight_decay: float | None = None  # None: the optimizer's default (adamw 0.01, the others 0)
    schedule: str = "cosine"  # learning rate: cosine decay to 0 over the run, or constant
    seed: int = 0
    limit_train: int | None = None  # use only the first N training images
    limit_test: int | None = None  # use only the first N test images

    @property
    def learning_rate(self) -> float:
        return DEFAULT_LR[self.optimizer] if self.lr is None else self.lr

    def validate(self) -> None:
        """Raise TrainingError for settings that cannot work."""
        if self.dataset not in DATASETS:
            raise TrainingError(f"unknown dataset {self.dataset!r}; choose one of: {', '.join(DATASETS)}")
        if self.model not in MODELS:
            raise TrainingError(f"unknown model {self.model!r}; choose one of: {', '.join(sorted(MODELS))}")
        if self.optimizer not in OPTIMIZERS:
            raise TrainingError(f"unknown optimizer {self.optimizer!r}; choose one of: {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise TrainingError(f"unknown schedule {self.schedule!r}; choose one of: {', '.join(SCHEDULES)}")
        if not _is_int(self.epochs) or self.epochs < 1:
            raise TrainingError(f"epochs must be an integer >= 1, got {self.epochs!r}")
        if not _is_int(self.batch_size) or self.batch_size < 1:
            raise TrainingError(f"batch size must be an integer >= 1, got {self.batch_size!r}")
        lr = self.learning_rate
        # `not lr > 0` is also true for NaN.
        if not isinstance(lr, (int, float)) or not lr > 0 or math.isinf(lr):
            raise TrainingError(f"learning rate must be a positive number, got {lr!r}")
        if not 0 <= self.momentum < 1:
            raise TrainingError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.weight_decay is not None and not self.weight_decay >= 0:
            raise TrainingError(f"weight decay must be >= 0, got {self.weight_decay!r}")
        if not _is_int(self.seed) or self.seed < 0:
            raise TrainingError(f"seed must be an integer >= 0, got {self.seed!r}")
        for name in ("limit_train", "limit_test"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                raise TrainingError(f"{name.replace('_', '-')} must be an integer >= 1, got {value!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """A config from a dict (e.g. saved in a checkpoint); unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def load_dataset(
    name: str = "fashion-mnist",
    data_dir: str | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test), images as normalised float32 (N, 1, 28, 28).

    Pixels are scaled to [0, 1], then shifted and scaled by the training set's
    mean and standard deviation, so inputs are centred near 0 with unit spread
    (unscaled inputs make the first layers learn slowly). With limit_train /
    limit_test only the first N images of each set are used.
    """
    try:
        if name == "fashion-mnist":
            x_train, y_train, x_test, y_test = load_fashion_mnist(data_dir)
            mean, std = FASHION_MNIST_MEAN, FASHION_MNIST_STD
        elif name == "mnist":
            if data_dir is None:
                raise TrainingError("the mnist dataset needs --data-dir DIR, a directory holding the MNIST IDX files")
            x_train, y_train, x_test, y_test = load_mnist(data_dir)
            mean, std = MNIST_MEAN, MNIST_STD
        else:
            raise TrainingError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    except FileNotFoundError as err:
        raise TrainingError(str(err)) from None
    except ValueError as err:  # a corrupt or mismatched IDX file
        raise TrainingError(f"cannot read the {name} files: {err}") from None
    if limit_train is not None:
        x_train, y_train = x_train[:limit_train], y_train[:limit_train]
    if limit_test is not None:
        x_test, y_test = x_test[:limit_test], y_test[:limit_test]
    x_train = normalize(to_float_images(x_train), mean, std)
    x_test = normalize(to_float_images(x_test), mean, std)
    return x_train, y_train, x_test, y_test


def class_names(dataset: str) -> tuple[str, ...]:
    """The names of the ten classes of a dataset."""
    return FASHION_MNIST_CLASSES if dataset == "fashion-mnist" else MNIST_CLASSES


# ---------------------------------------------------------------------------
# Optimizer and learning rate
# ---------------------------------------------------------------------------


def build_optimizer(config: TrainConfig, parameters: Iterable[Any]) -> optim.Optimizer:
    """The optimizer named in the config, over the given parameters."""
    params = list(parameters)
    lr = config.learning_rate
    name = config.optimizer
    if name == "adamw":
        decay = 0.01 if config.weight_decay is None else config.weight_decay
        return optim.AdamW(params, lr=lr, weight_decay=decay)
    decay = 0.0 if config.weight_decay is None else config.weight_decay
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=decay)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=config.momentum, weight_decay=decay)
    if name == "adagrad":
        return optim.Adagrad(params, lr=lr, weight_decay=decay)
    raise TrainingError(f"unknown optimizer {name!r}; choose one of: {', '.join(OPTIMIZERS)}")


def cosine_lr(base_lr: float, step: int, total_steps: int) -> float:
    """Cosine decay: base_lr at step 0, falling smoothly to 0 at total_steps.

        lr(t) = base_lr * (1 + cos(pi * t / T)) / 2

    Large steps early make fast progress; small steps at the end let the
    weights settle instead of jumping around a minimum.
    """
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))


def set_lr(optimizer: optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr


# ---------------------------------------------------------------------------
# One epoch, and evaluation
# ---------------------------------------------------------------------------


@dataclass
class EpochResult:
    loss: float  # mean cross-entropy per image
    accuracy: float  # fraction of images classified correctly
    seconds: float


def train_epoch(
    model: Module,
    optimizer: optim.Optimizer,
    loader: DataLoader,
    lr_at: Callable[[int], float] | None = None,
    first_step: int = 0,
    progress: Progress | None = None,
) -> EpochResult:
    """One pass over the training data; returns the mean loss and accuracy.

    lr_at(step) gives the learning rate of each global step (step counts
    batches from the start of the run, starting at first_step).
    """
    model.train()
    start = time.perf_counter()
    total_loss = 0.0
    correct = 0
    seen = 0
    step = first_step
    for images, labels in loader:
        if lr_at is not None:
            set_lr(optimizer, lr_at(step))
        logits = model(Tensor(images))
        loss = F.cross_entropy(logits, Tensor(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

        n = len(labels)
        total_loss += loss.item() * n  # the loss is a batch mean: weight it by the batch size
        correct += int((logits.data.argmax(axis=1) == labels).sum())
        seen += n
        step += 1
        if progress is not None:
            progress.update(n, total_loss / seen, correct / seen)
    return EpochResult(total_loss / seen, correct / seen, time.perf_counter() - start)


def predict(model: Module, images: np.ndarray, batch_size: int = EVAL_BATCH_SIZE) -> np.ndarray:
    """The logits of every image, computed in batches, in eval mode, without a graph."""
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with no_grad():
            for start in range(0, len(images), batch_size):
                outputs.append(model(Tensor(images[start:start + batch_size])).data)
    finally:
        model.train(was_training)
    return np.concatenate(outputs)


def evaluate(model: Module, images: np.ndarray, labels: np.ndarray,
             batch_size: int = EVAL_BATCH_SIZE) -> tuple[float, float, np.ndarray]:
    """(mean cross-entropy, accuracy, predicted classes) on a labelled set."""
    logits = predict(model, images, batch_size)
    loss = F.cross_entropy(Tensor(logits), Tensor(labels)).item()
    predictions = logits.argmax(axis=1)
    accuracy = float((predictions == labels).mean())
    return loss, accuracy, predictions


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """counts[i, j] = how many images of true class i were predicted as class j."""
    flat = labels.astype(np.int64) * num_classes + predictions.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


# ---------------------------------------------------------------------------
# Progress display
# ---------------------------------------------------------------------------


class Progress:
    """A progress bar for one epoch: tqdm when installed, else a plain text line.

    Shows images done, running loss and accuracy, and images per second.
    """

    def __init__(self, total: int, description: str, stream: Any = None) -> None:
        self.total = total
        self.description = description
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.start = time.perf_counter()
        self.last_draw = 0.0
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, desc=description, unit="img", file=self.stream, leave=True,
                            dynamic_ncols=True)

    def update(self, n: int, loss: float, accuracy: float) -> None:
        self.done += n
        elapsed = time.perf_counter() - self.start
        speed = self.done / elapsed if elapsed > 0 else 0.0
        if self.bar is not None:
            self.bar.update(n)
            self.bar.set_postfix(loss=f"{loss:.4f}", acc=f"{accuracy:.4f}", refresh=False)
            return
        # The text line is redrawn in place (\r) at most 4 times a second.
        if elapsed - self.last_draw < 0.25 and self.done < self.total:
            return
        self.last_draw = elapsed
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(
            f"\r{self.description} [{bar}] {self.done}/{self.total} "
            f"loss {loss:.4f} acc {accuracy:.4f} {speed:,.0f} img/s"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        else:
            self.stream.write("\n")
            self.stream.flush()


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------
#
# A checkpoint is one .npz file (numpy's zip of arrays), readable without
# pickle. Arrays are stored as entries "model/<name>" and "optimizer/<i>";
# everything else (settings, epoch, metrics, the optimizer's structure and the
# generator state) goes into one JSON string stored as the entry "meta".


def _encode(value: Any, arrays: dict[str, np.ndarray], prefix: str) -> Any:
    """Turn nested dicts/lists of arrays and numbers into JSON, moving arrays into `arrays`."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray):
        key = f"{prefix}/{len(arrays)}"
        arrays[key] = value
        return {"__array__": key}
    if isinstance(value, dict):
        # Keys may be ints (parameter indices), which JSON objects cannot keep.
        return {"__dict__": [[_encode(k, arrays, prefix), _encode(v, arrays, prefix)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(item, arrays, prefix) for item in value]}
    if isinstance(value, list):
        return [_encode(item, arrays, prefix) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"checkpoint: cannot save a value of type {type(value).__name__}")


def _decode(value: Any, arrays: Any) -> Any:
    """The inverse of _encode."""
    if isinstance(value, list):
        return [_decode(item, arrays) for item in value]
    if isinstance(value, dict):
        if "__array__" in value:
            return np.array(arrays[value["__array__"]])
        if "__tuple__" in value:
            return tuple(_decode(item, arrays) for item in value["__tuple__"])
        if "__dict__" in value:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in value["__dict__"]}
    return value


def save_checkpoint(path: str, model: Module, optimizer: optim.Optimizer, epoch: int,
                    config: TrainConfig, history: list[dict[str, float]]) -> None:
    """Write a checkpoint atomically: a crash mid-write leaves the old file intact.

    The data goes to a temporary file in the same directory, which is then
    renamed over `path` with os.replace (atomic on POSIX and Windows when both
    are on the same file system: readers see the old file or the new one,
    never half of one).
    """
    arrays: dict[str, np.ndarray] = {}
    for name, value in model.state_dict().items():
        arrays[f"model/{name}"] = np.asarray(value)
    meta = {
        "format": "tinygrad_cnn checkpoint 1",
        "epoch": epoch,
        "config": asdict(config),
        "history": history,
        "rng_state": get_rng().bit_generator.state,
        "optimizer": _encode(optimizer.state_dict(), arrays, "optimizer"),
    }
    arrays["meta"] = np.array(json.dumps(meta))
    _atomic_write(path, lambda f: np.savez(f, **arrays))


def _atomic_write(path: str, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Call write(file) on a temporary file next to `path`, then rename it to `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the rename makes it visible
        # mkstemp makes the file private (mode 0600); give it the usual permissions.
        os.chmod(tmp_path, 0o666 & ~_current_umask())
        os.replace(tmp_path, path)
    except BaseException:
        # Also on KeyboardInterrupt: never leave a half-written temporary behind.
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


def _current_umask() -> int:
    # The only way to read the umask is to set it, then put it back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@dataclass
class Checkpoint:
    """What load_checkpoint reads back."""

    model_state: dict[str, np.ndarray]
    optimizer_state: Any
    epoch: int
    config: TrainConfig
    history: list[dict[str, float]]
    rng_state: dict[str, Any]


def load_checkpoint(path: str) -> Checkpoint:
    """Read a checkpoint written by save_checkpoint; TrainingError if it is missing or not one."""
    if not os.path.isfile(path):
        raise TrainingError(f"checkpoint not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        meta = json.loads(str(arrays["meta"]))
        model_state = {key[len("model/"):]: value for key, value in arrays.items() if key.startswith("model/")}
        return Checkpoint(
            model_state=model_state,
            optimizer_state=_decode(meta["optimizer"], arrays),
            epoch=int(meta["epoch"]),
            config=TrainConfig.from_dict(meta["config"]),
            history=list(meta["history"]),
            rng_state=meta["rng_state"],
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise TrainingError(f"{path} is not a readable tinygrad_cnn checkpoint ({type(err).__name__}: {err})") from None


def load_model_state(model: Module, state: dict[str, np.ndarray], model_name: str, path: str) -> None:
    """Copy a checkpoint's weights into the model; a TrainingError names every mismatch."""
    try:
        model.load_state_dict(state)
    except (ValueError, KeyError, RuntimeError) as err:
        # Flatten load_state_dict's multi-line message into one line.
        details = "; ".join(line.strip() for line in str(err).splitlines()[1:]) or str(err)
        raise TrainingError(f"{path} does not fit model {model_name!r}: {details}") from None


# ---------------------------------------------------------------------------
# Metrics file and plot
# ---------------------------------------------------------------------------


def write_metrics_csv(path: str, history: list[dict[str, float]]) -> None:
    """One row per epoch with METRICS_COLUMNS (accuracies are fractions), written atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(METRICS_COLUMNS)
    for row in history:
        writer.writerow([row["epoch"]] + [repr(float(row[name])) for name in METRICS_COLUMNS[1:]])
    _atomic_write(path, lambda f: f.write(buffer.getvalue()), mode="w")


def read_metrics_csv(path: str) -> list[dict[str, float]]:
    """The rows of a metrics.csv as dicts of numbers."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{key: (int(value) if key == "epoch" else float(value)) for key, value in row.items()} for row in rows]


def load_pyplot() -> Any:
    """matplotlib.pyplot set up to draw into files, or None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # draw to files, no window
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_curves(path: str, history: list[dict[str, float]]) -> bool:
    """Draw training and test loss and accuracy per epoch into a PNG.

    Returns False (and draws nothing) when matplotlib is not installed.
    """
    plt = load_pyplot()
    if plt is None:
        return False
    epochs = [row["epoch"] for row in history]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 4))
    loss_axes.plot(epochs, [row["train_loss"] for row in history], "o-", label="training")
    loss_axes.plot(epochs, [row["test_loss"] for row in history], "o-", label="test")
    loss_axes.set_title("cross-entropy loss")
    accuracy_axes.plot(epochs, [row["train_accuracy"] for row in history], "o-", label="training")
    accuracy_axes.plot(epochs, [row["test_accuracy"] for row in history], "o-", label="test")
    accuracy_axes.set_title("accuracy")
    for axes in (loss_axes, accuracy_axes):
        axes.set_xlabel("epoch")
        axes.set_xticks(epochs)
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.tight_layout()
    _atomic_write(path, lambda f: figure.savefig(f, format="png", dpi=100))
    plt.close(figure)
    return True


# ---------------------------------------------------------------------------
# The whole run
# ---------------------------------------------------------------------------


def check_output_dir(out_dir: str, resume: str | None, overwrite: bool) -> None:
    """Refuse to write into a directory holding another run's results.

    Allowed: a new or empty directory, --overwrite, or resuming from the
    checkpoint that is in that very directory.
    """
    if overwrite:
        return
    existing = [name for name in (CHECKPOINT_NAME, METRICS_NAME) if os.path.exists(os.path.join(out_dir, name))]
    if not existing:
        return
    own_checkpoint = os.path.join(out_dir, CHECKPOINT_NAME)
    if resume is not None and os.path.exists(own_checkpoint) and os.path.samefile(resume, own_checkpoint):
        return
    raise TrainingError(
        f"{out_dir} already holds {' and '.join(existing)} from another run; "
        "choose another --out, pass --resume to continue it, or --overwrite to replace it"
    )


def restore(checkpoint: Checkpoint, path: str, model: Module, optimizer: optim.Optimizer) -> None:
    """Put the model, the optimizer and the library generator back in the checkpoint's state."""
    load_model_state(model, checkpoint.model_state, checkpoint.config.model, path)
    try:
        optimizer.load_state_dict(checkpoint.optimizer_state)
    except (ValueError, KeyError, TypeError) as err:
        raise TrainingError(f"{path}: cannot restore the optimizer state ({err})") from None
    # The shuffling of the next epochs and the dropout masks come from this generator.
    get_rng().bit_generator.state = checkpoint.rng_state


def train(
    config: TrainConfig | None = None,
    out_dir: str | None = None,
    resume: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    on_epoch_end: Callable[[dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """Train config.model on config.dataset; return one dict of metrics per epoch.

    config: the settings (TrainConfig() gives the defaults). When resuming,
        the settings saved in the checkpoint are used instead.
    out_dir: where checkpoint.npz, metrics.csv and curves.png go (None: write
        nothing; resuming writes next to the checkpoint unless out_dir is given).
    resume: path of a checkpoint to continue from, up to config.epochs.
    overwrite: allow replacing another run's files in out_dir.
    progress: show a progress bar per epoch.
    log: where the per-epoch summary lines go (None: silent).
    data: (x_train, y_train, x_test, y_test) to use instead of loading the dataset.
    on_epoch_end: called with each epoch's metrics once its checkpoint is written.

    Each history entry has epoch, train_loss, train_accuracy, test_loss,
    test_accuracy, seconds (training + evaluation wall time), train_seconds,
    images_per_second and rss_mb (resident memory after the epoch).
    """
    say = log if log is not None else (lambda message: None)
    checkpoint = None
    if resume is not None:
        checkpoint = load_checkpoint(resume)
        epochs = config.epochs if config is not None else checkpoint.config.epochs
        # Only the length of the run may change; everything else must match
        # the checkpoint for the continuation to be exact.
        config = checkpoint.config
        config.epochs = epochs
        if out_dir is None:
            out_dir = os.path.dirname(os.path.abspath(resume))
    config = config if config is not None else TrainConfig()
    config.validate()
    keep_freed_memory()  # reuse freed arrays from step to step: no page faults
    if out_dir is not None:
        if os.path.exists(out_dir) and not os.path.isdir(out_dir):
            raise TrainingError(f"--out {out_dir} exists and is not a directory")
        check_output_dir(out_dir, resume, overwrite)

    if data is None:
        data = load_dataset(config.dataset, config.data_dir, config.limit_train, config.limit_test)
    x_train, y_train, x_test, y_test = data

    manual_seed(config.seed)
    model = build_model(config.model)
    optimizer = build_optimizer(config, model.parameters())
    history: list[dict[str, float]] = []
    start_epoch = 1
    if checkpoint is not None:
        restore(checkpoint, resume, model, optimizer)
        history = [dict(row) for row in checkpoint.history]
        start_epoch = checkpoint.epoch + 1
        if start_epoch > config.epochs:
            say(f"{resume} has already trained {checkpoint.epoch} epochs; pass --epochs N with N > "
                f"{checkpoint.epoch} to train more")
            return history
        say(f"resuming from {resume} after epoch {checkpoint.epoch}")

    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        # Imported now rather than after the first epoch, so that the memory it
        # takes is there from the start and the per-epoch memory is comparable.
        load_pyplot()
    # Shuffled with the library generator (seed=None), whose state the checkpoint keeps.
    loader = DataLoader(x_train, y_train, batch_size=config.batch_size, shuffle=True)
    total_steps = config.epochs * len(loader)
    base_lr = config.learning_rate
    lr_at = None
    if config.schedule == "cosine":
        def lr_at(step: int) -> float:
            return cosine_lr(base_lr, step, total_steps)

    say(f"model {config.model} ({model.num_parameters():,} parameters), {config.dataset}: "
        f"{len(x_train):,} training / {len(x_test):,} test images, {config.optimizer} lr {base_lr:g} "
        f"({config.schedule}), batch {config.batch_size}, {config.epochs} epochs")
    plotted = False
    for epoch in range(start_epoch, config.epochs + 1):
        bar = Progress(len(x_train), f"epoch {epoch}/{config.epochs}") if progress else None
        try:
            result = train_epoch(model, optimizer, loader, lr_at, (epoch - 1) * len(loader), bar)
        finally:
            if bar is not None:
                bar.close()
        eval_start = time.perf_counter()
        test_loss, test_accuracy, _ = evaluate(model, x_test, y_test)
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
            write_metrics_csv(os.path.join(out_dir, METRICS_NAME), history)
        if on_epoch_end is not None:
            on_epoch_end(row)

    if out_dir is not None:
        written = [os.path.join(out_dir, name) for name in (CHECKPOINT_NAME, METRICS_NAME)]
        if plotted:
            say(f"wrote {', '.join(written)}, {os.path.join(out_dir, CURVES_NAME)}")
        else:
            say(f"wrote {' and '.join(written)}; for the plot curves.png install matplotlib "
                "(pip install matplotlib)")
    return history


def evaluate_checkpoint(path: str, data_dir: str | None = None, limit_test: int | None = None,
                        model_name: str | None = None) -> tuple[float, float, np.ndarray, TrainConfig]:
    """(test loss, test accuracy, confusion matrix, config) of a saved model on its dataset's test set."""
    checkpoint = load_checkpoint(path)
    config = checkpoint.config
    if data_dir is not None:
        config.data_dir = data_dir
    name = model_name if model_name is not None else config.model
    if name not in MODELS:
        raise TrainingError(f"unknown model {name!r}; choose one of: {', '.join(sorted(MODELS))}")
    model = build_model(name)
    load_model_state(model, checkpoint.model_state, name, path)
    _, _, x_test, y_test = load_dataset(config.dataset, config.data_dir, limit_train=1, limit_test=limit_test)
    loss, accuracy, predictions = evaluate(model, x_test, y_test)
    return loss, accuracy, confusion_matrix(y_test, predictions), config


def format_confusion_matrix(matrix: np.ndarray, names: tuple[str, ...]) -> str:
    """A text table: rows are true classes, columns predicted classes, plus per-class accuracy."""
    label_width = max(len(name) for name in names) + 4
    cell = max(5, len(str(matrix.max())) + 1)
    lines = ["confusion matrix (rows: true class, columns: predicted class)"]
    header = " " * label_width + "".join(f"{j:>{cell}}" for j in range(len(names))) + "   accuracy"
    lines.append(header)
    for i, name in enumerate(names):
        counts = "".join(f"{count:>{cell}}" for count in matrix[i])
        total = matrix[i].sum()
        accuracy = f"{matrix[i, i] / total:.3f}" if total else "  -"
        lines.append(f"{i:>2} {name:<{label_width - 3}}{counts}   {accuracy:>8}")
    return "\n".join(lines)
