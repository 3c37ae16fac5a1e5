"""The `tinygrad-cnn` command: --version, one-line errors naming the option (exit 2) before any work,
a broken pipe, the progress bar on and off a terminal, Ctrl-C, plural words."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from test_train_safety import TINY_RUN, assert_one_line_error, needs_fashion_mnist, tiny_data  # noqa: F401 (tiny_data is a fixture)

import tinygrad_cnn as tg
from tinygrad_cnn import train as T
from tinygrad_cnn.cli import main
from tinygrad_cnn.viz import command as graph_module

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))



def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str, *fragments: str, expected_code: int = 2) -> str:
    """The single line of stderr, after checking the exit status (2 unless told) and the fragments it must hold."""
    return assert_one_line_error(code, err, expected_code, *fragments)


def unwritable_folders(tmp_path) -> list[str]:
    """Folders where no file can be created, even by root: below a regular file, and /sys (Linux)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    places = [str(blocker / "sub")]
    try:
        open("/sys/tinygrad-cnn-write-test", "w").close()
    except OSError:
        places.append("/sys")
    else:  # pragma: no cover - a system where /sys takes files
        os.remove("/sys/tinygrad-cnn-write-test")
    return places


# ---------------------------------------------------------------------------
# --version and --help
# ---------------------------------------------------------------------------


def test_version_prints_the_package_version(capsys):
    code, out, err = run_cli(capsys, "--version")
    assert code == 0, err
    assert out.strip() == f"tinygrad-cnn {tg.__version__}"


def test_version_through_python_dash_m():
    result = subprocess.run([sys.executable, "-m", "tinygrad_cnn", "--version"], capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=60, env={**os.environ, "PYTHONPATH": REPO_ROOT})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tinygrad-cnn {tg.__version__}"


# ---------------------------------------------------------------------------
# graph: every mistake is one line, exit 2, before any graph is built
# ---------------------------------------------------------------------------


@pytest.fixture
def no_graph_is_built(monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("a graph was built before the options were checked")

    monkeypatch.setattr(graph_module, "_build_root", must_not_run)


@pytest.mark.parametrize(("options", "fragments"), [
    (["-o", "x.jpg"], ["-o x.jpg: cannot tell the format from the file name", ".svg, .png, .pdf or .dot",
                       "pass --format"]),
    (["--format", "png"], ["--format png needs -o FILE"]),
    (["--format", "pdf"], ["--format pdf needs -o FILE"]),
    (["--format", "svg", "-o", "y.png"], ["--format svg and -o y.png disagree"]),
    (["-o", ""], ["-o must name a file, got an empty string"]),
    (["--html"], ["--html needs -o FILE.html"]),
    (["--html", "--format", "svg", "-o", "page.html"], ["--format svg does not apply to --html"]),
    (["--format", "jpeg"], ["--format: invalid choice: 'jpeg'"]),
    (["--batch-size", "0"], ["--batch-size must be at least 1, got 0"]),
], ids=["unknown-suffix", "png-without-o", "pdf-without-o", "disagree", "empty-o", "html-without-o",
        "format-with-html", "unknown-format", "batch-size"])
def test_graph_option_mistakes_are_one_line(capsys, no_graph_is_built, options, fragments):
    code, out, err = run_cli(capsys, "graph", "--example", "chain-rule", *options)
    line = one_line_error(code, err, *fragments)
    assert line.startswith("tinygrad-cnn graph: error: ")
    assert "format=" not in line  # a Python keyword, not an option of the command
    assert out == ""


def test_graph_without_a_source_is_one_line(capsys):
    code, _, err = run_cli(capsys, "graph", "-o", "x.svg")
    one_line_error(code, err, "one of the arguments --example --model is required")


def test_graph_into_an_unwritable_folder_is_refused_before_any_work(capsys, tmp_path, no_graph_is_built):
    for folder in unwritable_folders(tmp_path):
        for name in ("x.svg", "x.dot", "page.html"):
            output = os.path.join(folder, name)
            html = ["--html"] if name.endswith(".html") else []
            code, out, err = run_cli(capsys, "graph", "--example", "chain-rule", *html, "-o", output)
            one_line_error(code, err, f"tinygrad-cnn graph: error: -o {output}: ")
            assert out == ""


def test_graph_with_a_known_format_and_no_suffix_is_fine(capsys, tmp_path):
    output = tmp_path / "graph"
    code, out, err = run_cli(capsys, "graph", "--example", "chain-rule", "--format", "dot", "-o", str(output))
    assert code == 0, err
    assert output.read_text().startswith("digraph")


def test_graph_creates_missing_folders_and_says_so(capsys, tmp_path):
    output = tmp_path / "missing" / "dir" / "x.dot"
    code, out, err = run_cli(capsys, "graph", "--example", "chain-rule", "-o", str(output))
    assert code == 0, err
    assert out.splitlines() == [f"created folder {output.parent}", f"wrote {output}"]
    assert output.read_text().startswith("digraph")


def test_graph_dot_into_a_closed_pipe_stops_quietly():
    # As `tinygrad-cnn graph --model lenet | head -1`: the reader is gone before the DOT text is written.
    process = subprocess.Popen(
        [sys.executable, "-m", "tinygrad_cnn", "graph", "--model", "lenet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": REPO_ROOT},
    )
    process.stdout.close()  # nobody reads: the first write fails with EPIPE
    err = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=120) == 141  # 128 + SIGPIPE, what a shell reports for a tool stopped by the pipe
    assert err == ""  # no BrokenPipeError traceback, no "Exception ignored" at exit


# ---------------------------------------------------------------------------
# train: options and output folder, checked before any data is loaded
# ---------------------------------------------------------------------------


@pytest.fixture
def nothing_is_loaded(monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("data was loaded before the options were checked")

    monkeypatch.setattr(T.run, "load_dataset", must_not_run)
    monkeypatch.setattr(T.run, "train_epoch", must_not_run)


@pytest.mark.parametrize(("options", "fragment"), [
    (["--weight-decay", "inf"], "--weight-decay: the weight decay must be a finite number >= 0, got inf"),
    (["--weight-decay", "nan"], "--weight-decay: the weight decay must be a finite number >= 0, got nan"),
    (["--weight-decay", "-0.1"], "--weight-decay: the weight decay must be a finite number >= 0, got -0.1"),
    (["--lr", "inf"], "--lr: the learning rate must be a positive number, got inf"),
    (["--lr", "nan"], "--lr: the learning rate must be a positive number, got nan"),
    (["--lr", "-1"], "--lr: the learning rate must be a positive number, got -1.0"),
    (["--momentum", "nan"], "--momentum: the momentum must be in [0, 1), got nan"),
    (["--momentum", "1"], "--momentum: the momentum must be in [0, 1), got 1.0"),
    (["--momentum=-inf"], "--momentum: the momentum must be in [0, 1), got -inf"),
    (["--epochs", "0"], "--epochs: the number of epochs must be an integer >= 1, got 0"),
    (["--batch-size", "-5"], "--batch-size: the batch size must be an integer >= 1, got -5"),
    (["--seed", "-1"], "--seed: the seed must be an integer >= 0, got -1"),
    (["--lr", "abc"], "argument --lr: expected a number, got 'abc'"),
    (["--out", ""], "--out must name a folder, got an empty string"),
])
def test_train_option_mistakes_are_one_line_before_any_work(capsys, tmp_path, nothing_is_loaded, options,
                                                            fragment):
    out = ["--out", str(tmp_path / "run")] if "--out" not in options else []
    code, stdout, err = run_cli(capsys, "train", *TINY_RUN, *out, *options)
    one_line_error(code, err, fragment)
    assert os.listdir(tmp_path) == []


def test_train_into_an_unwritable_out_is_refused_before_any_work(capsys, tmp_path, nothing_is_loaded):
    for folder in unwritable_folders(tmp_path):
        for out in (folder, os.path.join(folder, "run")):
            code, stdout, err = run_cli(capsys, "train", *TINY_RUN, "--out", out)
            one_line_error(code, err, f"tinygrad-cnn: error: --out {out}: ")
            assert stdout == ""


@pytest.mark.parametrize("name", ["checkpoint.npz", "metrics.csv", "curves.png"])
def test_train_never_replaces_any_output_file_of_another_run(capsys, tmp_path, nothing_is_loaded, name):
    out = tmp_path / "run"
    out.mkdir()
    (out / name).write_bytes(b"the user's own file")
    code, _, err = run_cli(capsys, "train", *TINY_RUN, "--out", str(out))
    one_line_error(code, err, f"{out} already holds {name} from another run", "--overwrite")
    assert (out / name).read_bytes() == b"the user's own file"
    assert os.listdir(out) == [name]


def test_train_names_every_file_in_the_way(capsys, tmp_path, nothing_is_loaded):
    out = tmp_path / "run"
    out.mkdir()
    for name in T.OUTPUT_NAMES:
        (out / name).write_bytes(b"x")
    code, _, err = run_cli(capsys, "train", *TINY_RUN, "--out", str(out))
    one_line_error(code, err, "already holds checkpoint.npz, metrics.csv and curves.png from another run")


def test_a_missing_data_dir_is_named_in_the_error_and_leaves_no_folder(capsys, tmp_path):
    missing = tmp_path / "no-data"
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", *TINY_RUN, "--data-dir", str(missing), "--out", str(out))
    line = one_line_error(code, err, f"--data-dir {missing}: Fashion-MNIST not found in {missing}",
                          "or pass --data-dir DIR")
    assert "root=" not in line
    code, _, err = run_cli(capsys, "train", *TINY_RUN, "--dataset", "mnist", "--data-dir", str(missing),
                           "--out", str(out))
    line = one_line_error(code, err, f"--data-dir {missing}: MNIST not found in {missing}")
    assert "download=True" not in line  # a keyword of load_mnist, not an option of the command
    assert not out.exists()  # the folder is made once the data is loaded


def test_damaged_data_is_named_by_data_dir(capsys, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (data / name).write_bytes(b"\x00\x00")  # truncated
    code, _, err = run_cli(capsys, "train", *TINY_RUN, "--data-dir", str(data), "--out", str(tmp_path / "run"))
    one_line_error(code, err, f"--data-dir {data}: cannot read the fashion-mnist files")


# ---------------------------------------------------------------------------
# The progress bar: redrawn only on a terminal, as wide as the terminal
# ---------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_writes_nothing_into_a_file_or_pipe():
    log = io.StringIO()  # isatty() is False, as for `tinygrad-cnn train > log.txt`
    bar = T.Progress(1000, "epoch 1/1", stream=log)
    for _ in range(10):
        bar.update(100, 0.5, 0.75)
    bar.close()
    assert log.getvalue() == ""


@pytest.mark.parametrize("columns", [20, 40, 60, 80, 200])
def test_progress_line_fits_the_terminal(monkeypatch, columns):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the text line, not tqdm
    bar = T.Progress(60_000, "epoch 12/20", stream=FakeTerminal())
    bar.done = 30_000
    line = bar.line(0.123456, 0.875, 12345.6, columns)
    assert len(line) <= columns - 1
    assert line.startswith("epoch 12/20"[: columns - 1])
    if columns >= 100:  # room for the whole bar
        assert "[############............]" in line and line.endswith("12,346 img/s")


def test_train_into_a_log_file_has_plain_lines(capsys, tmp_path, monkeypatch, tiny_data):  # noqa: F811
    monkeypatch.setattr(T.run, "load_dataset", lambda *args, **kwargs: tiny_data)
    options = [option for option in TINY_RUN if option != "--no-progress"]
    code, stdout, err = run_cli(capsys, "train", *options, "--epochs", "2", "--out", str(tmp_path / "run"))
    assert code == 0, err
    assert "\r" not in stdout + err
    assert err == ""
    epoch_lines = [line for line in stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epoch_lines] == ["epoch 1/2", "epoch 2/2"]


# ---------------------------------------------------------------------------
# Ctrl-C, plural words
# ---------------------------------------------------------------------------


def interrupt_in_epoch(n: int):
    """A train_epoch that runs the real epochs before the n-th and raises KeyboardInterrupt in it."""
    real_train_epoch = T.run.train_epoch
    calls = []

    def train_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real_train_epoch(*args, **kwargs)

    return train_epoch


def test_ctrl_c_before_the_first_checkpoint_says_there_is_none(capsys, tmp_path, monkeypatch, tiny_data):  # noqa: F811
    monkeypatch.setattr(T.run, "load_dataset", lambda *args, **kwargs: tiny_data)
    monkeypatch.setattr(T.run, "train_epoch", interrupt_in_epoch(1))
    code, _, err = run_cli(capsys, "train", *TINY_RUN, "--out", str(tmp_path / "run"))
    one_line_error(code, err, "tinygrad-cnn: interrupted before the first checkpoint was written",
                   expected_code=130)
    assert not (tmp_path / "run" / T.CHECKPOINT_NAME).exists()


def test_ctrl_c_after_an_epoch_names_the_checkpoint_to_resume(capsys, tmp_path, monkeypatch, tiny_data):  # noqa: F811
    monkeypatch.setattr(T.run, "load_dataset", lambda *args, **kwargs: tiny_data)
    monkeypatch.setattr(T.run, "train_epoch", interrupt_in_epoch(2))
    checkpoint = str(tmp_path / "run" / T.CHECKPOINT_NAME)
    code, _, err = run_cli(capsys, "train", *TINY_RUN, "--epochs", "3", "--out", str(tmp_path / "run"))
    one_line_error(code, err, f"tinygrad-cnn: interrupted; {checkpoint} is intact: continue with --resume "
                   f"{checkpoint}", expected_code=130)
    assert T.load_checkpoint(checkpoint).epoch == 1
    # Resumed into another folder and interrupted at once: the checkpoint it came from is the one to resume.
    monkeypatch.setattr(T.run, "train_epoch", interrupt_in_epoch(1))
    code, _, err = run_cli(capsys, "train", "--resume", checkpoint, "--out", str(tmp_path / "other"),
                           "--no-progress")
    one_line_error(code, err, f"continue with --resume {checkpoint}", expected_code=130)


def test_ctrl_c_in_graph_is_one_line(capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(graph_module, "_build_root", interrupted)
    code, _, err = run_cli(capsys, "graph", "--model", "lenet")
    assert one_line_error(code, err, expected_code=130) == "tinygrad-cnn graph: interrupted"


def test_one_epoch_is_singular(capsys, tmp_path, monkeypatch, tiny_data):  # noqa: F811
    monkeypatch.setattr(T.run, "load_dataset", lambda *args, **kwargs: tiny_data)
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", *TINY_RUN, "--epochs", "1", "--out", str(out))
    assert code == 0, err
    assert "batch 64, 1 epoch\n" in stdout
    code, stdout, err = run_cli(capsys, "train", "--resume", str(out / T.CHECKPOINT_NAME), "--epochs", "1",
                                "--no-progress")
    assert code == 0, err
    assert "has already trained 1 epoch;" in stdout
    assert "epochs" not in stdout.replace("--epochs", "")


def test_plural_words():
    from tinygrad_cnn.command_line import plural

    assert [plural(n, "epoch") for n in (0, 1, 2)] == ["0 epochs", "1 epoch", "2 epochs"]


def test_checked_folder_is_left_as_it_was(tmp_path):
    from tinygrad_cnn.output_folder import check_output_folder, create_output_folder

    target = tmp_path / "a" / "b"
    assert check_output_folder(str(target), "--out") == [str(tmp_path / "a"), str(target)]
    assert os.listdir(tmp_path) == []  # no probe file and no folder left behind
    assert create_output_folder(str(target), "--out") == [str(tmp_path / "a"), str(target)]
    assert target.is_dir() and os.listdir(target) == []
    assert create_output_folder(str(target), "--out") == []
    assert os.listdir(tmp_path) == ["a"]
