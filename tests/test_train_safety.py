"""No lost work: the divergence guard, damaged or wrong checkpoints, and one-line errors of the command."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import train as T
from tinygrad_cnn.cli import main
from tinygrad_cnn.data import FASHION_MNIST_DIR, write_idx
from tinygrad_cnn.models import build_model

needs_fashion_mnist = pytest.mark.skipif(
    not os.path.isdir(FASHION_MNIST_DIR), reason="Fashion-MNIST is not installed"
)

# The options of a run that takes a fraction of a second: the MLP on 256 images.
TINY_RUN = ["--model", "mlp", "--limit-train", "256", "--limit-test", "64", "--batch-size", "64", "--no-progress"]


@pytest.fixture(scope="module")
def tiny_data():
    if not os.path.isdir(FASHION_MNIST_DIR):
        pytest.skip("Fashion-MNIST is not installed")
    return T.load_dataset("fashion-mnist", limit_train=256, limit_test=64)


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory, tiny_data):
    """A real checkpoint after 1 epoch of the MLP with Adam (a run of 3 epochs)."""
    out = str(tmp_path_factory.mktemp("good"))
    config = T.TrainConfig(model="mlp", epochs=3, batch_size=64, limit_train=256, limit_test=64)
    try:
        T.train(config, out_dir=out, progress=False, log=None, data=tiny_data, on_epoch_end=stop_after_first_epoch)
    except StopAfterFirstEpoch:
        pass
    return os.path.join(out, T.CHECKPOINT_NAME)


class StopAfterFirstEpoch(Exception):
    pass


def stop_after_first_epoch(row):
    raise StopAfterFirstEpoch


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, expected_code: int, *fragments: str) -> str:
    assert code == expected_code, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def file_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


# ---------------------------------------------------------------------------
# The divergence guard
# ---------------------------------------------------------------------------


@needs_fashion_mnist
def test_a_diverging_run_stops_with_one_line_exit_3_and_writes_nothing(capsys, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", "--optimizer", "sgd", "--lr", "1e6", "--epochs", "2",
                                "--out", str(out), *TINY_RUN)
    line = assert_one_line_error(code, err, 3, "tinygrad-cnn: error: training diverged", "epoch 1",
                                 "step", "lower learning rate", "no checkpoint was written")
    assert "nan" in line or "inf" in line
    assert "epoch 1/2: train loss" not in stdout  # stopped before the epoch's summary
    assert not os.path.exists(out / T.CHECKPOINT_NAME)
    assert not os.path.exists(out / T.METRICS_NAME)


@needs_fashion_mnist
def test_divergence_keeps_the_last_finite_checkpoint(tiny_data, tmp_path):
    # SGD at lr 1000 survives epoch 1 of this data and blows up in epoch 2.
    out = str(tmp_path / "run")
    path = os.path.join(out, T.CHECKPOINT_NAME)
    written = {}

    def remember_files(row):
        written[row["epoch"]] = (file_bytes(path), file_bytes(os.path.join(out, T.METRICS_NAME)))

    config = T.TrainConfig(model="mlp", optimizer="sgd", lr=1000.0, schedule="constant", epochs=3,
                           batch_size=64, limit_train=256, limit_test=64)
    with pytest.raises(T.DivergenceError) as info:
        T.train(config, out_dir=out, progress=False, log=None, data=tiny_data, on_epoch_end=remember_files)
    assert info.value.epoch == 2 and 1 <= info.value.step <= 4
    message = str(info.value)
    assert "\n" not in message
    assert f"epoch 2, step {info.value.step}/4" in message
    assert "lower learning rate" in message and path in message and "kept as it was" in message
    assert list(written) == [1]
    assert file_bytes(path) == written[1][0]  # the epoch-1 checkpoint, byte for byte
    assert file_bytes(os.path.join(out, T.METRICS_NAME)) == written[1][1]
    checkpoint = T.load_checkpoint(path)
    assert checkpoint.epoch == 1
    assert all(np.isfinite(value).all() for value in checkpoint.model_state.values())


@needs_fashion_mnist
def test_non_finite_running_statistics_never_reach_a_checkpoint(tiny_data, tmp_path, monkeypatch):
    # Batch norm's running variance is a buffer, not a parameter: the check at
    # the end of the epoch finds it before the checkpoint is written.
    real_evaluate = T.run.evaluate

    def evaluate_after_breaking_bn1(model, images, labels):
        model.bn1.running_var.data[0] = np.nan
        return real_evaluate(model, images, labels)

    monkeypatch.setattr(T.run, "evaluate", evaluate_after_breaking_bn1)
    out = tmp_path / "run"
    config = T.TrainConfig(model="lenet_bn", epochs=1, batch_size=128, limit_train=256, limit_test=64)
    with pytest.raises(T.DivergenceError, match=r"epoch 1, after its last step \(2/2\): bn1\.running_var became"):
        T.train(config, out_dir=str(out), progress=False, log=None, data=tiny_data)
    assert os.listdir(out) == []


def test_a_parameter_made_non_finite_by_the_update_stops_the_epoch(rng):
    model = build_model("mlp")
    optimizer = T.build_optimizer(T.TrainConfig(optimizer="sgd"), model.parameters())
    real_step = optimizer.step

    def step_that_breaks_fc2_bias():
        real_step()
        model.fc2.bias.data[3] = np.inf

    optimizer.step = step_that_breaks_fc2_bias
    images = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
    loader = tg.data.DataLoader(images, np.arange(8) % 10, batch_size=4)
    with pytest.raises(T.DivergenceError, match=r"epoch 5, step 1/2: fc2\.bias became nan or inf") as info:
        T.train_epoch(model, optimizer, loader, epoch=5)
    assert (info.value.epoch, info.value.step) == (5, 1)
    assert T.first_non_finite_parameter(model) == "fc2.bias"


def test_a_non_finite_loss_stops_before_the_update(rng):
    model = build_model("mlp")
    optimizer = T.build_optimizer(T.TrainConfig(optimizer="sgd"), model.parameters())
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    images = rng.standard_normal((4, 1, 28, 28)).astype(np.float32)
    images[0, 0, 0, 0] = np.nan
    loader = tg.data.DataLoader(images, np.arange(4), batch_size=4)
    with pytest.raises(T.DivergenceError, match=r"step 1/1: the loss is nan"):
        T.train_epoch(model, optimizer, loader)
    for name, param in model.named_parameters():
        np.testing.assert_array_equal(param.data, before[name], err_msg=name)  # no nan update applied


# ---------------------------------------------------------------------------
# Damaged checkpoint files
# ---------------------------------------------------------------------------


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def empty(data: bytes) -> bytes:
    return b""


def one_bit_flipped(data: bytes) -> bytes:
    flipped = bytearray(data)
    flipped[len(data) // 3] ^= 0x04  # inside an array's data: the zip's CRC-32 no longer matches
    return bytes(flipped)


def last_byte_dropped(data: bytes) -> bytes:
    return data[:-1]


DAMAGES = [truncated, empty, one_bit_flipped, last_byte_dropped]


@needs_fashion_mnist
@pytest.mark.parametrize("damage", DAMAGES, ids=lambda damage: damage.__name__)
def test_resume_and_evaluate_refuse_a_damaged_file_with_one_line(capsys, tmp_path, good_checkpoint, damage,
                                                                 monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    path = out / T.CHECKPOINT_NAME
    path.write_bytes(damage(file_bytes(good_checkpoint)))
    before = path.read_bytes()
    refuse_to_train(monkeypatch)

    code, _, err = run_cli(capsys, "train", "--resume", str(path), "--epochs", "3", "--no-progress")
    assert_one_line_error(code, err, 2, str(path), "not a readable tinygrad_cnn checkpoint")
    code, _, err = run_cli(capsys, "evaluate", "--checkpoint", str(path))
    assert_one_line_error(code, err, 2, str(path), "not a readable tinygrad_cnn checkpoint")
    assert path.read_bytes() == before
    assert sorted(os.listdir(out)) == [T.CHECKPOINT_NAME]


def refuse_to_train(monkeypatch):
    """Make loading data or training fail the test: a bad checkpoint must be refused before either."""
    def must_not_run(*args, **kwargs):
        raise AssertionError("the checkpoint was not refused up front")

    for module in (T.run, T.evaluation):
        monkeypatch.setattr(module, "load_dataset", must_not_run)
    monkeypatch.setattr(T.run, "train_epoch", must_not_run)


# ---------------------------------------------------------------------------
# Checkpoints that are readable but wrong
# ---------------------------------------------------------------------------


def rewrite_checkpoint(source: str, target: str, change_meta=None, change_arrays=None) -> None:
    """Copy a checkpoint, changing its metadata (a dict) or its arrays in between."""
    with np.load(source) as archive:
        arrays = {key: archive[key] for key in archive.files}
    meta = json.loads(str(arrays["meta"]))
    if change_meta is not None:
        change_meta(meta)
    if change_arrays is not None:
        change_arrays(arrays)
    arrays["meta"] = np.array(json.dumps(meta))
    with open(target, "wb") as f:
        np.savez(f, **arrays)


def encoded_dict(value: dict) -> dict:
    """The entries of a dict as the checkpoint's JSON stores it ({"__dict__": [[key, value], ...]})."""
    return {key: item for key, item in value["__dict__"]}


def first_param_state(meta: dict) -> list:
    state = encoded_dict(meta["optimizer"])["state"]
    return state["__dict__"][0][1]["__dict__"]


def first_group(meta: dict) -> list:
    return encoded_dict(meta["optimizer"])["param_groups"][0]["__dict__"]


def set_in_group(meta: dict, key: str, value) -> None:
    for entry in first_group(meta):
        if entry[0] == key:
            entry[1] = value


def foreign_generator(meta):
    meta["rng_state"] = {"bit_generator": "MT19937", "state": {"key": [0] * 624, "pos": 624}}


def damaged_generator(meta):
    meta["rng_state"]["state"] = {"state": "abc"}


def history_without_test_loss(meta):
    del meta["history"][0]["test_loss"]


def history_with_a_text(meta):
    meta["history"][0]["train_loss"] = "low"


def negative_epoch(meta):
    meta["epoch"] = -4


def epoch_beyond_the_run(meta):
    meta["epoch"] = 7  # of a run of 3 epochs


def epoch_as_text(meta):
    meta["epoch"] = "1"


def settings_without_model(meta):
    del meta["config"]["model"]


def settings_with_a_bad_lr(meta):
    meta["config"]["lr"] = "fast"


def settings_with_a_bad_momentum(meta):
    meta["config"]["momentum"] = "a"


def another_format(meta):
    meta["format"] = "some other program 3"


def no_history(meta):
    del meta["history"]


def nan_weight(arrays):
    arrays["model/fc1.weight"][0, 0] = np.nan


META_DAMAGES = [
    (foreign_generator, None, "not a PCG64 state"),
    (damaged_generator, None, "random generator state"),
    (history_without_test_loss, None, "row 1 of the metrics history has no test_loss"),
    (history_with_a_text, None, "train_loss = 'low'"),
    (negative_epoch, None, "epoch must be an integer >= 1, got -4"),
    (epoch_beyond_the_run, None, "epoch 7 of a run of 3 epochs"),
    (epoch_as_text, None, "epoch must be an integer >= 1, got '1'"),
    (settings_without_model, None, "the saved settings have no model"),
    (settings_with_a_bad_lr, None, "learning rate must be a positive number"),
    (settings_with_a_bad_momentum, None, "momentum"),
    (another_format, None, "format 'some other program 3'"),
    (no_history, None, "has no history"),
    (None, nan_weight, "non-finite values (model fc1.weight)"),
]


@needs_fashion_mnist
@pytest.mark.parametrize(("change_meta", "change_arrays", "fragment"), META_DAMAGES,
                         ids=[(meta or arrays).__name__ for meta, arrays, _ in META_DAMAGES])
def test_wrong_metadata_is_refused_up_front(capsys, tmp_path, good_checkpoint, monkeypatch, change_meta,
                                            change_arrays, fragment):
    out = tmp_path / "run"
    out.mkdir()
    path = out / T.CHECKPOINT_NAME
    rewrite_checkpoint(good_checkpoint, str(path), change_meta, change_arrays)
    before = path.read_bytes()
    refuse_to_train(monkeypatch)

    code, _, err = run_cli(capsys, "train", "--resume", str(path), "--epochs", "3", "--no-progress")
    assert_one_line_error(code, err, 2, str(path), fragment)
    code, _, err = run_cli(capsys, "evaluate", "--checkpoint", str(path))
    assert_one_line_error(code, err, 2, str(path), fragment)
    assert path.read_bytes() == before
    assert sorted(os.listdir(out)) == [T.CHECKPOINT_NAME]


def without_a_moment(meta):
    entries = first_param_state(meta)
    entries[:] = [entry for entry in entries if entry[0] != "exp_avg"]


def betas_as_text(meta):
    set_in_group(meta, "betas", {"__tuple__": ["a", "b"]})


def lr_as_text(meta):
    set_in_group(meta, "lr", "0.1")


def a_step_count_below_zero(meta):
    for entry in first_param_state(meta):
        if entry[0] == "step":
            entry[1] = -3


OPTIMIZER_DAMAGES = [
    (without_a_moment, "the state of parameter 0 has exp_avg_sq, step; adam keeps exp_avg, exp_avg_sq, step"),
    (betas_as_text, "betas = ('a', 'b')"),
    (lr_as_text, "lr = '0.1'"),
    (a_step_count_below_zero, "step = -3"),
]


@needs_fashion_mnist
@pytest.mark.parametrize(("change_meta", "fragment"), OPTIMIZER_DAMAGES,
                         ids=[change.__name__ for change, _ in OPTIMIZER_DAMAGES])
def test_an_optimizer_state_that_does_not_fit_is_refused_before_training(capsys, tmp_path, good_checkpoint,
                                                                         monkeypatch, change_meta, fragment):
    path = tmp_path / T.CHECKPOINT_NAME
    rewrite_checkpoint(good_checkpoint, str(path), change_meta)
    refuse_to_train(monkeypatch)
    code, _, err = run_cli(capsys, "train", "--resume", str(path), "--epochs", "3", "--no-progress")
    assert_one_line_error(code, err, 2, str(path), "cannot restore the optimizer state", fragment)


@needs_fashion_mnist
def test_the_state_of_another_optimizer_is_refused(capsys, tmp_path, good_checkpoint, monkeypatch):
    # Settings that say adam, with the state of an SGD optimizer.
    saved = T.load_checkpoint(good_checkpoint)
    model = build_model("mlp")
    model.load_state_dict(saved.model_state)
    sgd = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    tg.functional.cross_entropy(model(tg.randn(2, 1, 28, 28)), tg.Tensor(np.array([1, 2]))).backward()
    sgd.step()
    path = str(tmp_path / T.CHECKPOINT_NAME)
    T.save_checkpoint(path, model, sgd, saved.epoch, saved.config, saved.history)
    refuse_to_train(monkeypatch)
    code, _, err = run_cli(capsys, "train", "--resume", path, "--epochs", "3", "--no-progress")
    assert_one_line_error(code, err, 2, path, "cannot restore the optimizer state", "another optimizer")


@needs_fashion_mnist
@pytest.mark.parametrize("dtype", ["float64", "int64"])
def test_an_optimizer_state_of_another_dtype_is_refused_naming_the_dtype(capsys, tmp_path, good_checkpoint,
                                                                          monkeypatch, dtype):
    # The moments of a float32 run saved in another dtype: same shapes, so only the dtype can say what is wrong.
    def moments_in_another_dtype(arrays):
        for key in arrays:
            if key.startswith("optimizer/") and arrays[key].dtype == np.float32:
                arrays[key] = arrays[key].astype(dtype)

    path = str(tmp_path / T.CHECKPOINT_NAME)
    rewrite_checkpoint(good_checkpoint, path, change_arrays=moments_in_another_dtype)
    refuse_to_train(monkeypatch)
    code, _, err = run_cli(capsys, "train", "--resume", path, "--epochs", "3", "--no-progress")
    assert_one_line_error(code, err, 2, path, "cannot restore the optimizer state", f"= a {dtype} array of shape",
                          "(the parameter is float32 of shape")


@needs_fashion_mnist
def test_resuming_a_finished_run_does_nothing(capsys, tmp_path, good_checkpoint, monkeypatch):
    path = tmp_path / T.CHECKPOINT_NAME
    shutil.copy(good_checkpoint, path)
    refuse_to_train(monkeypatch)
    # The checkpoint has trained 1 epoch: --epochs 1 is a finished run (nothing to do, exit 0)...
    code, stdout, err = run_cli(capsys, "train", "--resume", str(path), "--epochs", "1", "--no-progress")
    assert code == 0, err
    assert "already trained 1 epoch;" in stdout


def test_resuming_with_fewer_epochs_than_done_is_an_error(tmp_path, good_checkpoint, monkeypatch):
    # ... and a checkpoint of epoch 2 resumed with --epochs 1 is refused.
    path = str(tmp_path / T.CHECKPOINT_NAME)

    def at_epoch_2(meta):
        second = dict(meta["history"][0], epoch=2)
        meta["history"].append(second)
        meta["epoch"] = 2

    rewrite_checkpoint(good_checkpoint, path, at_epoch_2)
    refuse_to_train(monkeypatch)
    with pytest.raises(T.TrainingError, match="has already trained 2 epochs, more than --epochs 1"):
        T.train(T.TrainConfig(epochs=1), resume=path, progress=False, log=None)


@needs_fashion_mnist
def test_an_intact_checkpoint_still_resumes(capsys, tmp_path, good_checkpoint):
    out = tmp_path / "run"
    out.mkdir()
    path = out / T.CHECKPOINT_NAME
    shutil.copy(good_checkpoint, path)
    code, stdout, err = run_cli(capsys, "train", "--resume", str(path), "--epochs", "2", "--no-progress")
    assert code == 0, err
    assert "epoch 2/2" in stdout
    assert T.load_checkpoint(str(path)).epoch == 2


# ---------------------------------------------------------------------------
# Other one-line errors of the command
# ---------------------------------------------------------------------------


@needs_fashion_mnist
def test_evaluate_with_limit_test_0_is_one_line(capsys, good_checkpoint):
    code, _, err = run_cli(capsys, "evaluate", "--checkpoint", good_checkpoint, "--limit-test", "0")
    assert_one_line_error(code, err, 2, "--limit-test must be an integer >= 1, got 0")


def write_mnist_like(folder, size: int, train: int = 8, test: int = 4) -> None:
    rng = np.random.default_rng(0)
    for prefix, count in (("train", train), ("t10k", test)):
        write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte"),
                  rng.integers(0, 256, (count, size, size), dtype=np.uint8))
        write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"),
                  rng.integers(0, 10, count, dtype=np.uint8))


def test_images_that_are_not_28x28_are_one_line(capsys, tmp_path):
    data = tmp_path / "data32"
    data.mkdir()
    write_mnist_like(str(data), size=32)
    code, _, err = run_cli(capsys, "train", "--dataset", "mnist", "--data-dir", str(data), "--out",
                           str(tmp_path / "run"), "--no-progress")
    assert_one_line_error(code, err, 2, "images in", "are 32x32", "28x28")
    assert not (tmp_path / "run").exists()


@needs_fashion_mnist
def test_evaluate_on_images_that_are_not_28x28_is_one_line(capsys, tmp_path, good_checkpoint):
    data = tmp_path / "data20"
    data.mkdir()
    write_mnist_like(str(data), size=20)
    code, _, err = run_cli(capsys, "evaluate", "--checkpoint", good_checkpoint, "--data-dir", str(data))
    assert_one_line_error(code, err, 2, "are 20x20", "28x28")


def test_an_empty_test_set_is_one_line(capsys, tmp_path):
    data = tmp_path / "no-test-images"
    data.mkdir()
    write_mnist_like(str(data), size=28, test=0)
    code, _, err = run_cli(capsys, "train", "--dataset", "mnist", "--data-dir", str(data), "--out",
                           str(tmp_path / "run"), "--no-progress")
    assert_one_line_error(code, err, 2, "the test set in", "has no images")


def test_graph_into_an_unwritable_place_is_one_line(capsys, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for name in ("graph.svg", "graph.dot"):
        code, stdout, err = run_cli(capsys, "graph", "--example", "chain-rule", "-o", str(blocker / name))
        assert_one_line_error(code, err, 2, f"tinygrad-cnn graph: error: -o {blocker / name}: {blocker} is a file")
        assert stdout == ""


def test_checkpoint_messages_stay_one_short_line():
    assert T.checkpoint_checks.one_line(ValueError("a\nb\n  c")) == "ValueError: a b c"
    long = T.checkpoint_checks.one_line("x" * 1000)
    assert len(long) < 210 and long.endswith("...")


def test_detect_anomaly_names_the_op_whose_gradient_became_inf(capsys, tmp_path, monkeypatch, tiny_data):
    # An epoch whose backward makes an inf inside a VJP (sqrt's at 0) while
    # the loss itself is finite: the divergence guard cannot see it, anomaly mode does.
    def epoch_with_an_inf_gradient(model, *args, **kwargs):
        x = tg.Tensor(np.zeros(3), requires_grad=True)
        loss = tg.sqrt(x).sum()  # finite: 0
        loss.backward()
        raise AssertionError("backward should have raised")

    monkeypatch.setattr(T.run, "load_dataset", lambda *args, **kwargs: tiny_data)
    monkeypatch.setattr(T.run, "train_epoch", epoch_with_an_inf_gradient)
    code, _, err = run_cli(capsys, "train", *TINY_RUN, "--out", str(tmp_path / "run"), "--detect-anomaly")
    assert code == 3, err
    assert err.startswith("tinygrad-cnn: error: detect_anomaly: the backward of Pow returned inf")  # sqrt is x ** 0.5
    assert "loss = tg.sqrt(x).sum()" in err  # where the op was recorded, in the user's code
    assert not tg.is_anomaly_enabled()  # switched off again after the run


def test_without_detect_anomaly_the_mode_stays_off(capsys, tmp_path, monkeypatch, tiny_data):
    seen = []

    def epoch_that_looks(model, *args, **kwargs):
        seen.append(tg.is_anomaly_enabled())
        raise KeyboardInterrupt

    monkeypatch.setattr(T.run, "load_dataset", lambda *args, **kwargs: tiny_data)
    monkeypatch.setattr(T.run, "train_epoch", epoch_that_looks)
    code, _, _ = run_cli(capsys, "train", *TINY_RUN, "--out", str(tmp_path / "run"))
    assert code == 130 and seen == [False]
