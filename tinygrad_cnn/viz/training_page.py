"""Watch the filters learn: a page that replays the first steps of a training run.

    from tinygrad_cnn.viz import save_training_page

    record = save_training_page(model, loss_fn, batches, optimizer, steps=40, path="learning.html")

runs `steps` optimizer steps, each the usual

    loss = loss_fn(model(inputs), targets)
    optimizer.zero_grad(); loss.backward(); optimizer.step()

and writes one self-contained HTML file (no server, no network; a Content-
Security-Policy forbids any load) that steps through them: the loss so far,
every convolution filter with its gradient and its update (W, the update,
W after) as heatmaps, and the first convolution's feature maps on one fixed
image. `tinygrad-cnn train --watch F.html` records the first steps of a real
run the same way (`TrainingRecorder` is the part both use).

What is embedded, per step (FULL_ELEMENTS and HEATMAP_ELEMENTS below):
- every parameter of up to 4,096 elements: its value used in the forward pass
  and its gradient, exactly (float32 or float64 bytes);
- a convolution weight above that size (up to 65,536 elements): its value,
  gradient and update as 8-bit heatmaps (each rounded to 255 levels between
  -max|x| and +max|x| of that step), so every filter can be seen, but the
  numbers on hover are approximate;
- any other parameter above that size: the norms of its value, gradient and
  update only;
- the first convolution's output on the fixed image: exactly up to 4,096
  elements, as 8-bit heatmaps above.
"""

from __future__ import annotations

import base64
import html
import itertools
import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..grad_mode import no_grad
from ..nn import Conv2d, Module
from ..optim import SGD, Optimizer
from ..tensor import Tensor
from .arrays import exact_bytes, norm
from .page_file import content_security_policy, fill_page, json_for_script, page_asset, page_script

__all__ = ["FULL_ELEMENTS", "HEATMAP_ELEMENTS", "TrainingRecord", "TrainingRecorder", "check_page_path",
           "save_training_page", "training_page_html"]

# Arrays up to this many elements are embedded exactly.
FULL_ELEMENTS = 4096
# Convolution weights up to this many elements are embedded as 8-bit heatmaps;
# larger ones (and large non-convolution parameters) as norms only.
HEATMAP_ELEMENTS = 65536


# ---------------------------------------------------------------------------
# Checking the arguments
# ---------------------------------------------------------------------------


def check_page_path(path: Any, argument: str = "path", who: str = "save_training_page") -> Path:
    """Make sure the page can be written to `path`, before any training.

    Creates the missing parent directories (as the step-through page does);
    a path that is a directory is a ValueError, one that cannot be written an
    OSError naming the argument. An existing file is left as it was. Messages
    start with "who: " (nothing when who is empty).
    """
    prefix = f"{who}: " if who else ""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{prefix}{argument} must be a file path (str or Path), got {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{prefix}{argument} {str(path)!r} is a directory; give the name of an .html file")
    for folder in path.parents:
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"{prefix}cannot write {argument} {str(path)!r}: {str(folder)!r} is a file, "
                                     "not a directory")
    existed = path.exists()
    try:
        if path.parent != Path(""):
            path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab"):  # "a" never truncates a file that is already there
            pass
    except OSError as err:
        raise type(err)(f"{prefix}cannot write {argument} {str(path)!r}: {err.strerror}") from None
    if not existed:
        path.unlink()
    return path


def _check_steps(steps: Any, who: str) -> int:
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool):
        raise TypeError(f"{who}: steps must be an integer, got {type(steps).__name__}")
    if steps < 1:
        raise ValueError(f"{who}: steps must be >= 1, got {steps}")
    return int(steps)


def _as_tensor(value: Any, what: str, who: str) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return Tensor(value)
    raise TypeError(f"{who}: {what} must be a numpy array or a Tensor, got {type(value).__name__}")


def _take_batches(batches: Any, steps: int, who: str) -> list[tuple[Tensor, Tensor]]:
    """The first `steps` (inputs, targets) pairs, all checked before any training."""
    if isinstance(batches, (str, bytes, Tensor, np.ndarray)) or not isinstance(batches, Iterable):
        raise TypeError(f"{who}: batches must be an iterable of (inputs, targets) pairs, "
                        f"got {type(batches).__name__}")
    taken = []
    for k, pair in enumerate(itertools.islice(iter(batches), steps)):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"{who}: batch {k} must be an (inputs, targets) pair, got {type(pair).__name__}"
                            + (f" of length {len(pair)}" if isinstance(pair, (tuple, list)) else ""))
        inputs = _as_tensor(pair[0], f"the inputs of batch {k}", who)
        targets = _as_tensor(pair[1], f"the targets of batch {k}", who)
        taken.append((inputs, targets))
    if len(taken) < steps:
        raise ValueError(f"{who}: steps={steps} needs {steps} batches, but batches gave only {len(taken)}")
    return taken


def first_conv(model: Module) -> tuple[str, Conv2d] | None:
    """The first Conv2d of the model (in the order its modules were assigned), with its name."""
    for name, module in model.named_modules():
        if isinstance(module, Conv2d):
            return name, module
    return None


# ---------------------------------------------------------------------------
# Recording the steps
# ---------------------------------------------------------------------------


class TrainingRecord:
    """What the page shows, per recorded step k = 0 .. steps-1 (numpy arrays).

    losses[k]: the loss of the k-th batch; lrs[k]: the learning rate of its update.
    values[name][k]: the parameter's value used in the k-th forward pass, and
        values[name][steps]: its value after the last update (for the
        parameters kept as arrays, see `kept`).
    grads[name][k]: the gradient the k-th backward pass left in .grad.
    norms[name][k]: (norm of the value, of the gradient, of the update) for every parameter.
    features[k]: the first convolution's output on `image`, with the k-th step's weights.
    """

    def __init__(self, names: list[str], shapes: dict[str, tuple[int, ...]], conv_weights: list[str],
                 kept: list[str], feature_layer: str | None, image: np.ndarray | None, plain_sgd: bool,
                 optimizer: str) -> None:
        self.names = names
        self.shapes = shapes
        self.conv_weights = conv_weights
        self.kept = kept
        self.feature_layer = feature_layer
        self.image = image
        self.plain_sgd = plain_sgd
        self.optimizer = optimizer
        self.losses: list[float] = []
        self.lrs: list[float] = []
        self.values: dict[str, list[np.ndarray]] = {name: [] for name in kept}
        self.grads: dict[str, list[np.ndarray | None]] = {name: [] for name in kept}
        self.norms: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
        self.features: list[np.ndarray] = []

    @property
    def steps(self) -> int:
        return len(self.losses)


def _norm_or_zero(array: np.ndarray | None) -> float:
    return 0.0 if array is None else norm(array.astype(np.float64))


def _optimizer_text(optimizer: Optimizer) -> tuple[str, bool]:
    """A short description ("SGD lr 0.1") and whether its update is exactly -lr * grad."""
    group = optimizer.param_groups[0]
    plain = isinstance(optimizer, SGD) and all(
        g.get("momentum", 0) == 0 and g.get("weight_decay", 0) == 0 for g in optimizer.param_groups
    )
    return f"{type(optimizer).__name__} lr {group['lr']:g}", plain


class TrainingRecorder:
    """Records training steps for the page; the loop calls it around each step.

        recorder.before_step()     # before the forward pass
        ... forward, loss, zero_grad, backward, optimizer.step() ...
        recorder.after_step(loss)  # after the update

    It records the first `steps` steps and then does nothing (`done` is True).
    Given a `path`, it writes the page there as soon as the last of them is
    recorded (`written` is then True); `finish()` writes the steps recorded so
    far when training ends earlier.
    """

    def __init__(self, model: Module, optimizer: Optimizer, steps: int, image: np.ndarray | None = None,
                 who: str = "TrainingRecorder", path: str | Path | None = None, title: str | None = None) -> None:
        if not isinstance(model, Module):
            raise TypeError(f"{who}: model must be an nn.Module, got {type(model).__name__}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{who}: optimizer must be an optim.Optimizer, got {type(optimizer).__name__}")
        self.model = model
        self.optimizer = optimizer
        self.steps = _check_steps(steps, who)
        self.parameters = dict(model.named_parameters())
        if not self.parameters:
            raise ValueError(f"{who}: the model has no parameters, so training changes nothing to watch")
        conv_weights = [f"{name}.weight" if name else "weight" for name, module in model.named_modules()
                        if isinstance(module, Conv2d)]
        kept = [name for name, p in self.parameters.items()
                if p.data.size <= FULL_ELEMENTS or (name in conv_weights and p.data.size <= HEATMAP_ELEMENTS)]
        # The feature maps: the first convolution applied to the fixed image (none without either).
        self.feature_conv: Conv2d | None = None
        self.image: np.ndarray | None = None
        feature_layer = None
        found = first_conv(model)
        if found is not None and image is not None:
            name, conv = found
            image = np.asarray(image.data if isinstance(image, Tensor) else image)
            if image.ndim != 3 or image.shape[0] != conv.in_channels:
                raise ValueError(f"{who}: image must be one (C, H, W) image with the {conv.in_channels} channel(s) "
                                 f"the first convolution {name or 'of the model'} takes, got shape {image.shape}")
            self.feature_conv, self.image = conv, image
            feature_layer = name or "the model itself"
        description, plain = _optimizer_text(optimizer)
        self.record = TrainingRecord(
            names=list(self.parameters), shapes={n: p.shape for n, p in self.parameters.items()},
            conv_weights=conv_weights, kept=kept, feature_layer=feature_layer, image=self.image,
            plain_sgd=plain, optimizer=description,
        )
        self._before: dict[str, np.ndarray] = {}
        self._step_open = False  # before_step was called, after_step not yet
        self.path = None if path is None else Path(path)
        self.title = title
        self.written = False

    @property
    def done(self) -> bool:
        return self.record.steps >= self.steps

    def before_step(self) -> None:
        """Keep the values the coming forward pass uses, and the feature maps they give."""
        if self.done:
            return
        self._before = {name: p.data.copy() for name, p in self.parameters.items()}
        self._step_open = True
        if self.feature_conv is not None and self.image is not None:
            with no_grad():
                maps = self.feature_conv(Tensor(self.image[None]))
            self.record.features.append(maps.data[0].copy())

    def after_step(self, loss: Tensor) -> None:
        """Keep the loss, the gradients and the updates of the step just taken."""
        if self.done:
            return
        self._step_open = False
        record = self.record
        record.losses.append(float(loss.item()))
        record.lrs.append(float(self.optimizer.param_groups[0]["lr"]))
        for name, param in self.parameters.items():
            before = self._before[name]
            grad = None if param.grad is None else param.grad.data.copy()
            update = param.data.astype(np.float64) - before.astype(np.float64)
            record.norms[name].append((_norm_or_zero(before), _norm_or_zero(grad), _norm_or_zero(update)))
            if name in record.values:
                record.values[name].append(before)
                record.grads[name].append(grad)
        if self.done:
            self.finish()

    def finish(self) -> None:
        """Close the record (the values after the last update, for "W after") and write the page, if a
        path was given, once; with no step recorded, nothing."""
        record = self.record
        if record.steps == 0 or self.written:
            return
        self.steps = record.steps  # nothing more is recorded
        for name in record.kept:
            if len(record.values[name]) == record.steps:
                # A step that was begun but not finished (its loss or its update was nan: the run
                # stopped) may have changed the parameters: "W after" is what it started from.
                after = self._before[name] if self._step_open else self.parameters[name].data.copy()
                record.values[name].append(after)
        if self.path is not None:
            self.path.write_text(training_page_html(record, self.title), encoding="utf-8")
            self.written = True


def save_training_page(
    model: Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    batches: Iterable[tuple[Any, Any]],
    optimizer: Optimizer,
    steps: int,
    path: str | Path,
    *,
    image: np.ndarray | None = None,
    title: str | None = None,
) -> TrainingRecord:
    """Train for `steps` optimizer steps while recording them, and write the page to `path`.

    model: the network (an nn.Module); its parameters are updated in place.
    loss_fn: loss_fn(model(inputs), targets) must return a scalar Tensor.
    batches: an iterable of (inputs, targets) pairs (numpy arrays or Tensors);
        the first `steps` of them are taken (and checked) before training.
    optimizer: an optim.Optimizer over the model's parameters.
    steps: how many steps to run and record.
    path: the HTML file to write (checked to be writable before training).
    image: the fixed (C, H, W) image whose feature maps are shown (default:
        the first image of the first batch).
    title: the page's title.

    Returns the TrainingRecord the page was made from.
    """
    who = "save_training_page"
    if not isinstance(model, Module):
        raise TypeError(f"{who}: model must be an nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"{who}: loss_fn must be callable as loss_fn(model_output, targets), "
                        f"got {type(loss_fn).__name__}")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{who}: optimizer must be an optim.Optimizer, got {type(optimizer).__name__}")
    steps = _check_steps(steps, who)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"{who}: title must be a str, got {type(title).__name__}")
    path = check_page_path(path, "path", who)
    taken = _take_batches(batches, steps, who)
    if image is None and first_conv(model) is not None:
        first_inputs = taken[0][0].data
        if first_inputs.ndim != 4:
            raise ValueError(f"{who}: the model has a convolution, so inputs should be (N, C, H, W) images; "
                             f"batch 0's inputs have shape {first_inputs.shape}")
        image = first_inputs[0]
    recorder = TrainingRecorder(model, optimizer, steps, image, who, path, title)

    for k, (inputs, targets) in enumerate(taken):
        recorder.before_step()
        loss = loss_fn(model(inputs), targets)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            what = type(loss).__name__ if not isinstance(loss, Tensor) else f"a Tensor of shape {loss.shape}"
            raise TypeError(f"{who}: loss_fn must return a scalar Tensor, got {what} (batch {k})")
        if not math.isfinite(loss.item()):
            raise ValueError(f"{who}: the loss of batch {k} is {loss.item()}; training diverged "
                             "(try a lower learning rate); no page was written")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        recorder.after_step(loss)  # after the last step, it writes the page
    return recorder.record


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------


def _heatmap(array: np.ndarray) -> dict[str, Any]:
    """8-bit: round(x / max|x| * 127), enough for a heatmap; `scale` is max|x|."""
    values = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    scale = float(np.abs(values).max()) if values.size else 0.0
    levels = np.zeros(values.shape, np.int8) if scale == 0 else np.round(values / scale * 127).astype(np.int8)
    return {"type": "q8", "scale": scale, "b64": base64.b64encode(levels.tobytes()).decode("ascii")}


def _exact_or_heatmap(array: np.ndarray) -> dict[str, Any]:
    return exact_bytes(array) if array.size <= FULL_ELEMENTS else _heatmap(array)


def _array(array: np.ndarray | None) -> dict[str, Any] | None:
    return None if array is None else _exact_or_heatmap(array)


def _page_data(record: TrainingRecord, title: str) -> dict[str, Any]:
    params = []
    for name in record.names:
        entry: dict[str, Any] = {
            "name": name,
            "shape": list(record.shapes[name]),
            "conv": name in record.conv_weights,
            "exact": name in record.kept and math.prod(record.shapes[name]) <= FULL_ELEMENTS,
            "norms": [list(triple) for triple in record.norms[name]],
        }
        if name in record.kept:
            values = record.values[name]
            entry["values"] = [_array(v) for v in values]
            entry["grads"] = [_array(g) for g in record.grads[name]]
            if not entry["exact"]:  # the page cannot take differences of 8-bit values
                entry["updates"] = [_heatmap(values[k + 1].astype(np.float64) - values[k].astype(np.float64))
                                    for k in range(record.steps)]
        params.append(entry)
    image = record.image
    return {
        "title": title,
        "steps": record.steps,
        "losses": record.losses,
        "lrs": record.lrs,
        "optimizer": record.optimizer,
        "plainSgd": record.plain_sgd,
        "params": params,
        "featureLayer": record.feature_layer,
        "image": None if image is None else {"shape": list(image.shape), **_exact_or_heatmap(image)},
        "features": [_array(f) for f in record.features],
        "featureShape": list(record.features[0].shape) if record.features else None,
        "fullElements": FULL_ELEMENTS,
    }


def training_page_html(record: TrainingRecord, title: str | None = None) -> str:
    """The page of a TrainingRecord, as one self-contained HTML text."""
    if record.steps == 0:
        raise ValueError("training_page_html: the record has no steps")
    title = title or f"Watch the filters learn: {record.steps} steps of {record.optimizer}"
    parts = {
        "{{policy}}": content_security_policy(),
        "{{title}}": html.escape(title),
        "{{style}}": page_asset("training.css"),
        "{{script}}": page_script("training.js"),
        "{{data}}": json_for_script(_page_data(record, title)),
        "{{full}}": f"{FULL_ELEMENTS:,}",
        "{{heatmap}}": f"{HEATMAP_ELEMENTS:,}",
    }
    return fill_page("training.html", parts)
