"""The loss and accuracy curves, drawn with matplotlib when it is installed."""

from __future__ import annotations

from typing import Any

from ..atomic import atomic_write

CURVES_NAME = "curves.png"

# What to run for the plots; the extra "plot" of the package installs matplotlib.
PLOT_INSTALL_HINT = "install matplotlib: pip install 'tinygrad_cnn[plot]'"


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
    atomic_write(path, lambda f: figure.savefig(f, format="png", dpi=100))
    plt.close(figure)
    return True
