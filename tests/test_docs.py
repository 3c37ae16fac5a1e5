"""Every ```python block of README.md and docs/*.md runs as written.

The blocks of one page run in order, in one namespace (a later block may use
what an earlier one defined), in a fresh temporary directory (files a block
writes land there), in a subprocess with a time limit. A failure names the
page, the block and the line of the page. Fragments that are not meant to run
(signatures, sketches) use a ```text fence, which this test skips.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest
from doc_blocks import fenced_blocks, python_blocks

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(REPO_ROOT, "tests", "doc_blocks.py")
PAGES = ["README.md"] + sorted(os.path.relpath(path, REPO_ROOT)
                               for path in glob.glob(os.path.join(REPO_ROOT, "docs", "*.md")))
PAGE_TIMEOUT_SECONDS = 60


def run_page(page: str, cwd: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": REPO_ROOT, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, RUNNER, os.path.join(REPO_ROOT, page)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=PAGE_TIMEOUT_SECONDS)


@pytest.mark.parametrize("page", PAGES)
def test_python_blocks_run(page, tmp_path):
    with open(os.path.join(REPO_ROOT, page), encoding="utf-8") as file:
        if not python_blocks(file.read()):
            pytest.skip(f"{page} has no python blocks")
    result = run_page(page, str(tmp_path))
    assert result.returncode == 0, result.stderr[-4000:]


def test_a_broken_block_is_reported_with_its_page_block_and_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n```python\nx = 1\n```\n\ntext\n\n```python\ny = x + 1\nz = y / 0\n```\n")
    result = subprocess.run([sys.executable, RUNNER, str(page)], cwd=str(tmp_path), capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": REPO_ROOT}, timeout=60)
    assert result.returncode == 1
    assert f"{page}: python block 2 (starting at line 10) failed at line 11: ZeroDivisionError" in result.stderr


def test_blocks_share_one_namespace_per_page_and_text_fences_are_skipped(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\na = 2\n```\n```text\nnot python at all\n```\n"
                    "- item\n\n  ```python\n  assert a == 2\n  open('made.txt', 'w').close()\n  ```\n")
    blocks = fenced_blocks(page.read_text())
    assert [block.language for block in blocks] == ["python", "text", "python"]
    assert blocks[2].code == "assert a == 2\nopen('made.txt', 'w').close()\n"
    result = subprocess.run([sys.executable, RUNNER, str(page)], cwd=str(tmp_path), capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": REPO_ROOT}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "made.txt").exists()


READING_PATH = ["docs/autograd.md", "docs/ops.md", "docs/activations_and_losses.md", "docs/dense_layers.md",
                "docs/convolution.md", "docs/cnn_step_by_step.md", "docs/training.md"]


def test_readme_gives_the_reading_path_in_the_order_of_the_gradient():
    with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as file:
        readme = file.read()
    path_section = readme[readme.index("## Documentation: a reading path"):]
    positions = [path_section.index(f"]({page})") for page in READING_PATH]
    assert positions == sorted(positions)
    for page in [path for path in PAGES if path != "README.md"]:
        assert f"]({page})" in readme, f"README.md does not link {page}"


@pytest.mark.parametrize("page", [path for path in PAGES if path != "README.md"])
def test_every_page_ends_with_exercises_and_runnable_solutions(page):
    with open(os.path.join(REPO_ROOT, page), encoding="utf-8") as file:
        text = file.read()
    assert "\n## Exercises\n" in text, f"{page} has no Exercises section"
    exercises = text[text.rindex("\n## Exercises\n"):]
    assert "\n## " not in exercises[1:], f"{page}: the Exercises section is not the last one"
    questions, _, solutions = exercises.partition("<details>")
    count = len([line for line in questions.split("\n") if line[:3] in {f"{k}. " for k in range(1, 10)}])
    assert 2 <= count <= 4, f"{page}: {count} exercises"
    assert "</details>" in solutions and python_blocks(solutions), f"{page}: no runnable solutions"
