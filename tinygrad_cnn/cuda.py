"""`tinygrad_cnn.cuda`: what PyTorch code asks before choosing a device.

This library computes with numpy on the CPU, so there is no GPU to find:

    device = tg.device("cuda" if tg.cuda.is_available() else "cpu")   # "cpu"
    model.to(device)

runs as written and keeps everything where it is.
"""

from __future__ import annotations


def is_available() -> bool:
    """False: there is no GPU backend (everything runs in numpy on the CPU)."""
    return False


def device_count() -> int:
    """0 GPUs."""
    return 0
