"""Tests of the models, the training loop, checkpoints and the `tinygrad-cnn` command."""

from __future__ import annotations

import io
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import train as T
from tinygrad_cnn.cli import main
from tinygrad_cnn.data import FASHION_MNIST_CLASSES, FASHION_MNIST_DIR
from tinygrad_cnn.models import MODELS, LeNet, build_model

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

needs_fashion_mnist = pytest.mark.skipif(
    not os.path.isdir(FASHION_MNIST_DIR), reason="Fashion-MNIST is not installed"
)


@pytest.fixture(scope="module")
def small_data():
    """A small Fashion-MNIST subset: 512 training and 256 test images."""
    if not os.path.isdir(FASHION_MNIST_DIR):
        pytest.skip("Fashion-MNIST is not installed")
    return T.load_dataset("fashion-mnist", limit_train=512, limit_test=256)


def small_config(**changes) -> T.TrainConfig:
    config = T.TrainConfig(model="lenet_bn", epochs=2, batch_size=64, limit_train=512, limit_test=256)
    for key, value in changes.items():
        setattr(config, key, value)
    return config


def file_bytes(folder: str) -> dict[str, bytes]:
    """Every file in a folder with its contents, to check that nothing changed."""
    contents = {}
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            contents[name] = f.read()
    return contents


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_maps_images_to_ten_logits(name):
    model = build_model(name)
    x = tg.randn(3, 1, 28, 28)
    out = model(x)
    assert out.shape == (3, 10)
    out.sum().backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, pname
        assert param.grad.shape == param.shape


def test_lenet_has_the_layers_of_the_spec():
    model = build_model("lenet")
    shapes = {name: param.shape for name, param in model.named_parameters()}
    assert shapes == {
        "conv1.weight": (32, 1, 3, 3), "conv1.bias": (32,),
        "conv2.weight": (64, 32, 3, 3), "conv2.bias": (64,),
        "fc1.weight": (128, 64 * 7 * 7), "fc1.bias": (128,),
        "fc2.weight": (10, 128), "fc2.bias": (10,),
    }
    for name in ("conv1", "pool1", "conv2", "pool2", "fc1", "fc2"):
        assert hasattr(model, name)


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown model 'resnet'") as info:
        build_model("resnet")
    for name in MODELS:
        assert name in str(info.value)


def test_default_model_is_one_of_the_models():
    assert T.TrainConfig().model in MODELS


# ---------------------------------------------------------------------------
# Pieces of the loop
# ---------------------------------------------------------------------------


def test_cosine_schedule_is_stepped_per_batch_from_the_configured_lr(small_data):
    # 512 images at batch 64: 8 steps per epoch, 16 in the run. The lr of
    # step t is lr * (1 + cos(pi * t / 16)) / 2, t counting batches.
    config = small_config(model="mlp", optimizer="sgd", lr=0.1)
    model = build_model("mlp")
    optimizer = T.build_optimizer(config, model.parameters())
    scheduler = T.build_scheduler(config, optimizer, total_steps=16)
    seen = []
    real_step = optimizer.step

    def record_lr_then_step(*args, **kwargs):
        seen.append(optimizer.param_groups[0]["lr"])
        return real_step(*args, **kwargs)

    optimizer.step = record_lr_then_step
    loader = tg.data.DataLoader(small_data[0], small_data[1], batch_size=64)
    T.train_epoch(model, optimizer, loader, scheduler)
    expected = [0.1 * (1 + math.cos(math.pi * t / 16)) / 2 for t in range(8)]
    assert seen == pytest.approx(expected, rel=1e-12)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)  # set for step 8 of 16: half the lr

    # Continuing at step 8 starts from the configured lr, not from the
    # optimizer's current one.
    optimizer.param_groups[0]["lr"] = 123.0
    resumed = T.build_scheduler(config, optimizer, total_steps=16, first_step=8)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    assert resumed.last_epoch == 8
    assert T.build_scheduler(small_config(schedule="constant"), optimizer, total_steps=16) is None


def test_confusion_matrix_counts_pairs(rng):
    labels = rng.integers(0, 10, 500)
    predictions = rng.integers(0, 10, 500)
    matrix = T.confusion_matrix(labels, predictions)
    expected = np.zeros((10, 10), dtype=np.int64)
    for true, predicted in zip(labels, predictions):
        expected[true, predicted] += 1
    np.testing.assert_array_equal(matrix, expected)
    text = T.format_confusion_matrix(matrix, FASHION_MNIST_CLASSES)
    for name in FASHION_MNIST_CLASSES:
        assert name in text


@pytest.mark.parametrize("name", T.OPTIMIZERS)
def test_every_optimizer_takes_a_step(name):
    model = build_model("mlp")
    optimizer = T.build_optimizer(T.TrainConfig(optimizer=name), model.parameters())
    before = model.fc1.weight.numpy().copy()
    loss = tg.functional.cross_entropy(model(tg.randn(4, 1, 28, 28)), tg.Tensor(np.arange(4)))
    loss.backward()
    optimizer.step()
    assert not np.array_equal(before, model.fc1.weight.numpy())


class FakeTerminal(io.StringIO):
    """A stream that says it is a terminal (the bar draws only on one)."""

    def isatty(self):
        return True


def test_text_progress_line_when_tqdm_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # makes `from tqdm import tqdm` fail
    terminal = FakeTerminal()
    bar = T.Progress(100, "epoch 1/1", stream=terminal)
    bar.update(100, 0.5, 0.75)
    bar.close()
    line = terminal.getvalue()
    assert line.startswith("\repoch 1/1 [") and line.endswith("\n")
    assert "100/100" in line and "loss 0.5000" in line and "acc 0.7500" in line and "img/s" in line


# ---------------------------------------------------------------------------
# Training for real
# ---------------------------------------------------------------------------


@needs_fashion_mnist
def test_one_epoch_on_10000_images_reaches_80_percent():
    # Seeds 0, 1, 2 gave 0.847, 0.855, 0.833 (the default lenet at batch 128: 0.807).
    config = T.TrainConfig(model="lenet_bn", batch_size=64, epochs=1, limit_train=10_000)
    history = T.train(config, progress=False, log=None)
    assert len(history) == 1
    assert history[0]["test_accuracy"] >= 0.80, history


def test_training_writes_checkpoint_metrics_and_keeps_memory_flat(small_data, tmp_path):
    out = str(tmp_path / "run")
    config = small_config(epochs=3)
    history = T.train(config, out_dir=out, progress=False, log=None, data=small_data)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"]

    # metrics.csv: the header, then one row per epoch with the same numbers.
    with open(os.path.join(out, T.METRICS_NAME)) as f:
        lines = f.read().splitlines()
    assert lines[0] == "epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds"
    assert len(lines) == 1 + 3
    rows = T.read_metrics_csv(os.path.join(out, T.METRICS_NAME))
    for row, expected in zip(rows, history):
        for column in T.METRICS_COLUMNS:
            assert row[column] == expected[column]
        assert 0 <= row["train_accuracy"] <= 1 and 0 <= row["test_accuracy"] <= 1
        assert row["seconds"] > 0

    checkpoint = T.load_checkpoint(os.path.join(out, T.CHECKPOINT_NAME))
    assert checkpoint.epoch == 3
    assert checkpoint.config.model == "lenet_bn"
    assert [row["test_accuracy"] for row in checkpoint.history] == [row["test_accuracy"] for row in history]
    assert not [name for name in os.listdir(out) if name.endswith(".tmp")]

    # Resident memory after epoch 3 within 10% of that after epoch 1.
    rss = [row["rss_mb"] for row in history]
    assert abs(rss[2] - rss[0]) < 0.10 * rss[0], rss


def interrupt_after_first_epoch(row):
    if row["epoch"] == 1:
        raise KeyboardInterrupt  # as if Ctrl-C came right after the checkpoint was written


def straight_and_resumed(tmp_path, data, model):
    """Train 2 epochs straight; and 1 epoch, interrupt, resume for the 2nd. Returns both histories."""
    straight_dir = str(tmp_path / "straight")
    straight = T.train(small_config(model=model), out_dir=straight_dir, progress=False, log=None, data=data)
    split_dir = str(tmp_path / "split")
    with pytest.raises(KeyboardInterrupt):
        T.train(small_config(model=model), out_dir=split_dir, progress=False, log=None, data=data,
                on_epoch_end=interrupt_after_first_epoch)
    assert T.load_checkpoint(os.path.join(split_dir, T.CHECKPOINT_NAME)).epoch == 1
    tg.manual_seed(12345)  # the resumed run must not depend on the generator's state before it
    resumed = T.train(resume=os.path.join(split_dir, T.CHECKPOINT_NAME), progress=False, log=None, data=data)
    return straight, resumed


METRIC_KEYS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy")


def test_resume_gives_identical_results(small_data, tmp_path, monkeypatch):
    # A model with batch norm (running statistics in the state) and dropout
    # (masks drawn from the library generator, like the shuffling).
    monkeypatch.setitem(MODELS, "lenet-bn-dropout", lambda: LeNet(batch_norm=True, dropout=0.25))
    straight, resumed = straight_and_resumed(tmp_path, small_data, "lenet-bn-dropout")

    for key in METRIC_KEYS:
        assert [row[key] for row in resumed] == [row[key] for row in straight], key
    a = T.load_checkpoint(str(tmp_path / "straight" / T.CHECKPOINT_NAME))
    b = T.load_checkpoint(str(tmp_path / "split" / T.CHECKPOINT_NAME))
    assert a.model_state.keys() == b.model_state.keys()
    for name in a.model_state:
        np.testing.assert_array_equal(a.model_state[name], b.model_state[name], err_msg=name)
    assert a.rng_state == b.rng_state
    state_a, state_b = a.optimizer_state["state"], b.optimizer_state["state"]
    assert state_a.keys() == state_b.keys()
    for index in state_a:
        for key, value in state_a[index].items():
            np.testing.assert_array_equal(value, state_b[index][key])


def test_resume_without_the_generator_state_would_differ(small_data, tmp_path, monkeypatch):
    # The negative control of the test above: drop the generator state on
    # resume, and the second epoch shuffles differently.
    real_restore = T.restore

    def restore_but_not_the_generator(checkpoint, path, model, optimizer):
        checkpoint.rng_state = tg.get_rng().bit_generator.state
        real_restore(checkpoint, path, model, optimizer)

    monkeypatch.setattr(T.run, "restore", restore_but_not_the_generator)  # where train() looks it up
    straight, resumed = straight_and_resumed(tmp_path, small_data, "lenet")
    for key in METRIC_KEYS:  # the first epoch is the same, it comes from the checkpoint
        assert resumed[0][key] == straight[0][key]
    assert resumed[1]["train_loss"] != straight[1]["train_loss"]


def test_checkpoint_write_is_atomic(small_data, tmp_path, monkeypatch):
    out = str(tmp_path / "run")
    T.train(small_config(epochs=1), out_dir=out, progress=False, log=None, data=small_data)
    path = os.path.join(out, T.CHECKPOINT_NAME)
    before = file_bytes(out)
    model = build_model("lenet_bn")
    optimizer = T.build_optimizer(small_config(), model.parameters())

    real_savez = np.savez

    def savez_then_crash(file, **arrays):
        real_savez(file, **arrays)
        file.write(b"half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", savez_then_crash)
    with pytest.raises(OSError, match="disk full"):
        T.save_checkpoint(path, model, optimizer, 2, small_config(), [])
    monkeypatch.setattr(np, "savez", real_savez)

    def replace_fails(src, dst):
        raise KeyboardInterrupt  # interrupted just before the rename

    monkeypatch.setattr(os, "replace", replace_fails)
    with pytest.raises(KeyboardInterrupt):
        T.save_checkpoint(path, model, optimizer, 2, small_config(), [])
    monkeypatch.undo()

    assert file_bytes(out) == before  # the old checkpoint intact, no temporary left
    assert T.load_checkpoint(path).epoch == 1


def test_resume_refuses_a_checkpoint_of_another_architecture(small_data, tmp_path):
    out = str(tmp_path / "run")
    T.train(small_config(epochs=1), out_dir=out, progress=False, log=None, data=small_data)
    path = os.path.join(out, T.CHECKPOINT_NAME)
    model = build_model("lenet")
    checkpoint = T.load_checkpoint(path)
    with pytest.raises(T.TrainingError) as info:
        T.load_model_state(model, checkpoint.model_state, "lenet", path)
    message = str(info.value)
    assert "\n" not in message
    assert "does not fit model 'lenet'" in message
    assert "bn1.weight" in message  # an unexpected key
    assert "conv1.bias" in message  # a missing key


# ---------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tinygrad-cnn: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["--dataset", "cifar10"], ["--dataset", "cifar10"]),
        (["--model", "resnet"], ["unknown model 'resnet'", "lenet", "mlp"]),
        (["--optimizer", "lbfgs"], ["unknown optimizer 'lbfgs'", "adam"]),
        (["--lr", "0"], ["learning rate", "0"]),
        (["--lr", "-0.1"], ["learning rate", "-0.1"]),
        (["--lr", "fast"], ["--lr", "fast"]),
        (["--batch-size", "0"], ["batch size", "0"]),
        (["--epochs", "0"], ["epochs", "0"]),
        (["--limit-train", "0"], ["limit-train"]),
        (["--seed", "-1"], ["seed", "-1"]),
        (["--data-dir", "/nonexistent/fashion"], ["/nonexistent/fashion", "not found"]),
        (["--dataset", "mnist"], ["--data-dir"]),
        (["--dataset", "mnist", "--data-dir", "/nonexistent/mnist"], ["/nonexistent/mnist"]),
        (["--no-such-option"], ["--no-such-option"]),
    ],
)
def test_train_command_rejects_bad_input_with_one_line(capsys, tmp_path, argv, fragments):
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "train", "--out", str(out), "--no-progress", *argv)
    assert_one_line_error(code, err, *fragments)
    assert not out.exists()  # nothing was written


def test_train_command_end_to_end_and_refuses_to_overwrite(capsys, tmp_path):
    if not os.path.isdir(FASHION_MNIST_DIR):
        pytest.skip("Fashion-MNIST is not installed")
    out = str(tmp_path / "run")
    args = ["train", "--model", "lenet", "--epochs", "1", "--limit-train", "256", "--limit-test", "100",
            "--batch-size", "64", "--out", out, "--no-progress"]
    code, stdout, err = run_cli(capsys, *args)
    assert code == 0, err
    assert "epoch 1/1" in stdout
    assert os.path.exists(os.path.join(out, T.CHECKPOINT_NAME))
    assert os.path.exists(os.path.join(out, T.METRICS_NAME))
    before = file_bytes(out)

    # The same --out again: refused, nothing changed.
    code, _, err = run_cli(capsys, *args)
    assert_one_line_error(code, err, "already holds", "--overwrite", "--resume")
    assert file_bytes(out) == before

    # Resuming with other settings is refused too.
    checkpoint = os.path.join(out, T.CHECKPOINT_NAME)
    code, _, err = run_cli(capsys, "train", "--resume", checkpoint, "--lr", "0.5", "--no-progress")
    assert_one_line_error(code, err, "--lr")
    assert file_bytes(out) == before

    # Resuming with more epochs continues the run in place.
    code, stdout, err = run_cli(capsys, "train", "--resume", checkpoint, "--epochs", "2", "--no-progress")
    assert code == 0, err
    assert "epoch 2/2" in stdout
    assert [row["epoch"] for row in T.read_metrics_csv(os.path.join(out, T.METRICS_NAME))] == [1, 2]

    # The evaluate command reproduces the last test accuracy.
    code, stdout, err = run_cli(capsys, "evaluate", "--checkpoint", checkpoint, "--limit-test", "100")
    assert code == 0, err
    assert "(100 images)" in stdout
    last = T.read_metrics_csv(os.path.join(out, T.METRICS_NAME))[-1]
    assert f"accuracy {last['test_accuracy']:.4f}" in stdout
    assert "confusion matrix" in stdout
    for name in FASHION_MNIST_CLASSES:
        assert name in stdout

    # Evaluating the weights as another architecture names the mismatch.
    code, _, err = run_cli(capsys, "evaluate", "--checkpoint", checkpoint, "--model", "mlp")
    assert_one_line_error(code, err, "does not fit model 'mlp'", "conv1.weight", "fc1.weight")
    # A missing or broken checkpoint file.
    code, _, err = run_cli(capsys, "evaluate", "--checkpoint", str(tmp_path / "nothing.npz"))
    assert_one_line_error(code, err, "checkpoint not found")
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip file")
    code, _, err = run_cli(capsys, "evaluate", "--checkpoint", str(broken))
    assert_one_line_error(code, err, "not a readable tinygrad_cnn checkpoint")


def test_plot_is_optional(small_data, tmp_path, monkeypatch):
    messages = []
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    out = str(tmp_path / "run")
    T.train(small_config(epochs=1), out_dir=out, progress=False, log=messages.append, data=small_data)
    assert not os.path.exists(os.path.join(out, T.CURVES_NAME))
    assert "pip install 'tinygrad_cnn[plot]'" in messages[-1]
    assert os.path.exists(os.path.join(out, T.METRICS_NAME))


def test_plot_is_written_with_matplotlib(small_data, tmp_path):
    pytest.importorskip("matplotlib")
    out = str(tmp_path / "run")
    T.train(small_config(epochs=1), out_dir=out, progress=False, log=None, data=small_data)
    with open(os.path.join(out, T.CURVES_NAME), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_help_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "tinygrad_cnn", "train", "--help"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
        env={**os.environ, "PYTHONPATH": REPO_ROOT},
    )
    assert result.returncode == 0, result.stderr
    for option in ("--dataset", "--model", "--epochs", "--batch-size", "--optimizer", "--lr", "--seed",
                   "--out", "--resume", "--limit-train", "--limit-test", "--data-dir", "--overwrite"):
        assert option in result.stdout


def test_graph_subcommand_is_dispatched(capsys):
    code, stdout, _ = run_cli(capsys, "graph", "--example", "chain-rule")
    assert code == 0
    assert "digraph" in stdout


def test_lr_nan_is_rejected():
    config = T.TrainConfig(lr=math.nan)
    with pytest.raises(T.TrainingError, match="learning rate"):
        config.validate()
