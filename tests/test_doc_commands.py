"""The `tinygrad-cnn ...` commands shown in README.md and docs/*.md run, with small settings.

Every line of a ```sh, ```bash, ```console or plain ``` block that starts with
`tinygrad-cnn` (after an optional `$ ` prompt and `.venv/bin/`) is run through
`tinygrad_cnn.cli.main`, the function behind the `tinygrad-cnn` command, in
order, in one temporary directory per page (so an `evaluate` finds the
checkpoint that an earlier `train` of the page wrote). A page's commands run
one after the other in one fresh Python process, which saves starting Python
and importing numpy and matplotlib once per command.

A full training run takes minutes, so the commands are changed to small
settings first. The substitutions, all of them:

- `train`: `--epochs N` becomes `--epochs 1`; `--limit-train` becomes 256 and
  `--limit-test` 200 (added when absent); `--no-progress` is added.
- `train --resume PATH`: only `--no-progress` (the settings are the
  checkpoint's, already small).
- `evaluate`: `--limit-test 200` is added.
- `graph`: nothing (one step on two images is already small).

When the block shows the command's output and that output is an error line
(`tinygrad-cnn: error: ...`), the command must fail and print exactly that line,
with exit status 3 for a run that diverged and 2 for any other error (the exit
statuses of docs/training.md); every other command must succeed.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest
from doc_blocks import fenced_blocks

from tinygrad_cnn.data import FASHION_MNIST_DIR

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHELL_LANGUAGES = ("sh", "bash", "console", "shell", "")
SMALL_TRAIN = {"--limit-train": "256", "--limit-test": "200"}
SMALL_TEST = "200"
TIMEOUT_SECONDS = 180  # all of one page's commands


def doc_commands(text: str) -> list[tuple[list[str], str | None]]:
    """(argv after `tinygrad-cnn`, documented error line or None) for each command of a page."""
    commands = []
    for block in fenced_blocks(text):
        if block.language not in SHELL_LANGUAGES:
            continue
        lines = block.code.split("\n")
        for index, line in enumerate(lines):
            words = shlex.split(line.strip().removeprefix("$ "), comments=True)
            if not words or words[0] not in ("tinygrad-cnn", ".venv/bin/tinygrad-cnn"):
                continue
            expected_error = None
            for following in lines[index + 1:]:  # the command's output, up to the next command
                following = following.strip()
                if following.startswith("$ ") or following.startswith("tinygrad-cnn "):
                    break
                if following.startswith("tinygrad-cnn: error:"):
                    expected_error = following
                    break
            commands.append((words[1:], expected_error))
    return commands


def _set_option(argv: list[str], option: str, value: str) -> list[str]:
    if option in argv:
        argv = list(argv)
        argv[argv.index(option) + 1] = value
        return argv
    return [*argv, option, value]


def small_settings(argv: list[str]) -> list[str]:
    """The substitution table of this module's docstring."""
    if not argv:
        return argv
    if argv[0] == "train" and "--resume" not in argv:
        if "--epochs" in argv:
            argv = _set_option(argv, "--epochs", "1")
        for option, value in SMALL_TRAIN.items():
            argv = _set_option(argv, option, value)
        return [*argv, "--no-progress"]
    if argv[0] == "train":
        return [*argv, "--no-progress"]
    if argv[0] == "evaluate":
        return _set_option(argv, "--limit-test", SMALL_TEST)
    return argv


# Runs in the subprocess: reads a JSON list of argv lists from stdin, calls
# main() on each, prints one JSON line [status, stderr] per command.
RUNNER = """
import contextlib, io, json, sys
from tinygrad_cnn.cli import main
for argv in json.load(sys.stdin):
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        status = main(argv)
    print(json.dumps([status, stderr.getvalue()]), flush=True)
"""


def run_commands(argvs: list[list[str]], cwd: str) -> list[tuple[int, str]]:
    env = {**os.environ, "PYTHONPATH": REPO_ROOT, "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(argvs), cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == len(argvs), f"the commands stopped after {len(lines)}:\n{result.stderr[-3000:]}"
    return [(status, stderr) for status, stderr in lines]


def pages_with_commands() -> list[str]:
    pages = ["README.md"] + sorted("docs/" + name for name in os.listdir(os.path.join(REPO_ROOT, "docs"))
                                   if name.endswith(".md"))
    found = []
    for page in pages:
        with open(os.path.join(REPO_ROOT, page), encoding="utf-8") as file:
            if doc_commands(file.read()):
                found.append(page)
    return found


def test_the_substitutions_make_runs_small():
    assert small_settings(["train", "--epochs", "5", "--out", "runs/a"]) == [
        "train", "--epochs", "1", "--out", "runs/a", "--limit-train", "256", "--limit-test", "200", "--no-progress"]
    assert small_settings(["train", "--limit-train", "5000"])[:3] == ["train", "--limit-train", "256"]
    assert small_settings(["train", "--resume", "runs/a/checkpoint.npz"]) == [
        "train", "--resume", "runs/a/checkpoint.npz", "--no-progress"]
    assert small_settings(["evaluate", "--checkpoint", "c.npz"]) == ["evaluate", "--checkpoint", "c.npz",
                                                                     "--limit-test", "200"]
    assert small_settings(["graph", "--model", "lenet"]) == ["graph", "--model", "lenet"]


def test_commands_are_found_with_their_documented_errors():
    text = ("```console\n$ tinygrad-cnn train --lr 0\ntinygrad-cnn: error: learning rate must be positive\n```\n"
            "```sh\n.venv/bin/tinygrad-cnn graph --model lenet   # a comment\npip install x\n```\n"
            "```python\ntinygrad-cnn = 1\n```\n")
    assert doc_commands(text) == [(["train", "--lr", "0"], "tinygrad-cnn: error: learning rate must be positive"),
                                  (["graph", "--model", "lenet"], None)]


@pytest.mark.skipif(not os.path.isdir(FASHION_MNIST_DIR), reason="Fashion-MNIST is not installed")
@pytest.mark.parametrize("page", pages_with_commands())
def test_documented_commands_run(page, tmp_path):
    with open(os.path.join(REPO_ROOT, page), encoding="utf-8") as file:
        commands = doc_commands(file.read())
    runs = [small_settings(argv) for argv, _ in commands]
    results = run_commands(runs, str(tmp_path))
    for (argv, expected_error), run, (status, stderr) in zip(commands, runs, results):
        shown = f"{page}: tinygrad-cnn {shlex.join(argv)} (run as: tinygrad-cnn {shlex.join(run)})"
        if expected_error is None:
            assert status == 0, f"{shown} failed with status {status}:\n{stderr[-3000:]}"
        else:
            expected_status = 3 if "training diverged" in expected_error else 2
            assert status == expected_status, f"{shown}: expected exit status {expected_status}, got {status}"
            assert stderr.strip().split("\n")[0] == expected_error, f"{shown}:\n{stderr}"
