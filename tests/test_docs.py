"""Every ```python block of README.md and docs/*.md runs as written.

The blocks of one page run in order, in one namespace (a later block may use
what an earlier one defined), in a fresh temporary directory (files a block
writes land there), in a subprocess with a time limit. A failure names the
page, the block and the line of the page. Fragments that are not meant to run
(signatures, sketches) use a ```text fence, which this test skips.
"""

from __future__ import annotations

import glob
import importlib.util
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


# The learner's track, in the order the README gives it: from the chain rule to the filters.
LEARNERS_TRACK = ["docs/chain_rule.md", "docs/dense_layers.md", "docs/conv_as_dense_layer.md", "docs/routing.md",
                  "docs/cnn_step_by_step.md", "docs/conv_in_loops.md", "docs/learning_filters.md", "docs/training.md"]


def readme_section(title: str) -> str:
    with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as file:
        readme = file.read()
    start = readme.index(f"\n## {title}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start:end if end != -1 else len(readme)]


def test_readme_gives_the_learners_track_first_in_its_order():
    section = readme_section("Documentation: a reading path")
    track = section[section.index("**The learner's track**"):section.index("**How the engine works**")]
    positions = [track.index(f"]({page})") for page in LEARNERS_TRACK]
    assert positions == sorted(positions)
    assert section.index("**How the engine works**") < section.index("**Using it for real**")


def test_readme_links_every_page_from_its_reading_path():
    section = readme_section("Documentation: a reading path")
    for page in [path for path in PAGES if path != "README.md"]:
        assert f"]({page})" in section, f"the README's reading path does not link {page}"


def test_each_track_page_links_the_notation_table_or_holds_it():
    for page in LEARNERS_TRACK[1:-1]:
        with open(os.path.join(REPO_ROOT, page), encoding="utf-8") as file:
            assert "chain_rule.md#notation" in file.read(), f"{page} does not point to the notation table"
    with open(os.path.join(REPO_ROOT, LEARNERS_TRACK[0]), encoding="utf-8") as file:
        first = file.read()
    notation = first[first.index("\n## Notation\n"):first.index("\n## ", first.index("\n## Notation\n") + 1)]
    for symbol in ("| x |", "| W |", "| b |", "| y |", "| g |", "x ⋆ g", "g ∗ W", "rot180(W)", "a filter"):
        assert symbol in notation, symbol
    # The backward rule is defined in words before the acronym is used anywhere else on the page.
    assert first.index("**vector-Jacobian product** (VJP)") < first.index("VJP", first.index("(VJP)") + 5)


def test_the_new_convolution_page_names_sparse_connectivity_and_weight_sharing():
    with open(os.path.join(REPO_ROOT, "docs", "conv_as_dense_layer.md"), encoding="utf-8") as file:
        text = file.read().lower()
    assert text.count("shared weights") + text.count("weight sharing") >= 2
    assert "sparse" in text and "local connectivity" in text
    for question in ("are filters simple matrices", "sparse connectivity\" and \"shared weights"):
        assert question in text, question


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


def load_track_words():
    spec = importlib.util.spec_from_file_location("track_words", os.path.join(REPO_ROOT, "scripts", "track_words.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_track_reaches_the_filter_gradient_and_the_filter_update_within_the_word_targets():
    track_words = load_track_words()
    per_page, reached = track_words.words_until_milestones()
    assert [page for page, _ in per_page] == LEARNERS_TRACK
    assert reached["the filter-gradient rule"] < 5_000
    assert reached["the filter update in numbers"] < 8_000
    assert reached["the filter-gradient rule"] < reached["the filter update in numbers"]


def test_track_words_counts_every_word_and_fails_when_a_milestone_is_missing(tmp_path):
    track_words = load_track_words()
    (tmp_path / "docs").mkdir()
    readme = "**The learner's track**\n[a](docs/a.md) [b](docs/b.md)\n**How the engine works**\n"
    (tmp_path / "README.md").write_text(readme)
    first, second = track_words.MILESTONES
    (tmp_path / "docs" / "a.md").write_text("one two three\n")
    (tmp_path / "docs" / "b.md").write_text("four five\n")
    original = [(milestone.page, milestone.text) for milestone in track_words.MILESTONES]
    try:
        first.page, first.text = "docs/a.md", "two"
        second.page, second.text = "docs/b.md", "five"
        per_page, reached = track_words.words_until_milestones(tmp_path)
        assert per_page == [("docs/a.md", 3), ("docs/b.md", 2)]
        assert reached == {first.name: 2, second.name: 5}
        second.page = "docs/elsewhere.md"
        with pytest.raises(ValueError, match="never reach"):
            track_words.words_until_milestones(tmp_path)
    finally:
        for milestone, (page, text) in zip(track_words.MILESTONES, original):
            milestone.page, milestone.text = page, text
