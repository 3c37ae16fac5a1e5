"""The metrics file: one CSV row per epoch."""

from __future__ import annotations

import csv
import io

from ..atomic import atomic_write

METRICS_NAME = "metrics.csv"
METRICS_COLUMNS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds")


def write_metrics_csv(path: str, history: list[dict[str, float]]) -> None:
    """One row per epoch with METRICS_COLUMNS (accuracies are fractions), written atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(METRICS_COLUMNS)
    for row in history:
        writer.writerow([row["epoch"]] + [repr(float(row[name])) for name in METRICS_COLUMNS[1:]])
    atomic_write(path, lambda f: f.write(buffer.getvalue()), mode="w")


def read_metrics_csv(path: str) -> list[dict[str, float]]:
    """The rows of a metrics.csv as dicts of numbers."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [{key: (int(value) if key == "epoch" else float(value)) for key, value in row.items()} for row in rows]
