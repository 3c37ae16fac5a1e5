"""LeNet's first-layer filters before and after training, side by side in one picture.

    python examples/conv1_filters.py --checkpoint runs/lenet/checkpoint.npz --out conv1_filters.png

"Before" are the weights the run started from: the model the checkpoint's
settings build with its seed (the training command seeds the library's
generator with --seed, then builds the model), "after" the checkpoint's. Each
3x3 filter is drawn blue below zero, white at zero, red above, all on one
scale per panel. Random filters look like noise; trained ones have structure:
edges, gradients, blobs of one sign (what a filter that detects a vertical
edge looks like: examples/learn_a_filter.py).

The picture needs matplotlib (`pip install matplotlib`).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from tinygrad_cnn import manual_seed
from tinygrad_cnn.models import build_model
from tinygrad_cnn.train import TrainingError, atomic_write, load_checkpoint, load_pyplot


def conv1_before_and_after(checkpoint_path: str) -> tuple[np.ndarray, np.ndarray]:
    """(initial, trained) conv1 weights of the run that wrote the checkpoint, each (32, 1, 3, 3)."""
    checkpoint = load_checkpoint(checkpoint_path)
    if "conv1.weight" not in checkpoint.model_state:
        raise TrainingError(f"{checkpoint_path}: model {checkpoint.config.model!r} has no conv1 layer")
    manual_seed(checkpoint.config.seed)
    initial = build_model(checkpoint.config.model)
    return initial.conv1.weight.data.copy(), checkpoint.model_state["conv1.weight"]


def draw(before: np.ndarray, after: np.ndarray, path: str, columns: int = 8) -> None:
    plt = load_pyplot()
    if plt is None:
        raise SystemExit("conv1_filters.py: drawing the picture needs matplotlib (pip install matplotlib)")
    count = before.shape[0]
    rows = (count + columns - 1) // columns
    figure, panels = plt.subplots(rows, 2 * columns + 1, figsize=(2 * columns * 0.62 + 0.4, rows * 0.7 + 0.7),
                                  gridspec_kw={"width_ratios": [1] * columns + [0.35] + [1] * columns})
    for title, weights, start in (("before training", before, 0), ("after training", after, columns + 1)):
        scale = float(np.abs(weights).max())
        for index in range(rows * columns):
            axes = panels[index // columns, start + index % columns]
            axes.set_xticks([])
            axes.set_yticks([])
            if index < count:
                axes.imshow(weights[index, 0], cmap="bwr", vmin=-scale, vmax=scale)
                axes.set_title(str(index), fontsize=6, pad=1)
            else:
                axes.axis("off")
        panels[0, start + columns // 2].text(0, -1.6, f"{title} (\u00b1{scale:.2f})", ha="center", fontsize=10)
    for axes in panels[:, columns]:
        axes.axis("off")
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.86, wspace=0.08, hspace=0.35)
    atomic_write(path, lambda f: figure.savefig(f, format="png", dpi=110))
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a checkpoint.npz of lenet or lenet_bn")
    parser.add_argument("--out", default="conv1_filters.png", help="the PNG to write (default conv1_filters.png)")
    args = parser.parse_args(argv)
    try:
        before, after = conv1_before_and_after(args.checkpoint)
    except TrainingError as err:
        print(f"conv1_filters.py: error: {err}", file=sys.stderr)
        return 2
    draw(before, after, args.out)
    change = np.abs(after - before).max()
    print(f"conv1: norm {np.linalg.norm(before):.3f} before, {np.linalg.norm(after):.3f} after training; "
          f"largest change of one weight {change:.3f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
