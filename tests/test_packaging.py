"""The package as pip users get it: the sdist carries what its tests need, the wheel installs into a
fresh venv outside the repository and its command runs, `import tinygrad_cnn` stays light,
and the package index's description has nothing that only works in the repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile

import pytest

import tinygrad_cnn as tg

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_README = os.path.join(REPO_ROOT, "PACKAGE_README.md")


def run(argv: list[str], cwd: str, timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **env})
    assert result.returncode == 0, f"{argv} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, str]:
    """The sdist, and the wheel built from it (`python -m build` does both), built from a copy of the
    repository's files so that the working tree gets no build/ or egg-info folders."""
    work = tmp_path_factory.mktemp("dist")
    source = work / "source"
    # A clone or an unpacked sdist, less what building, testing and running leave behind.
    shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "dist", "runs", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache",
        ".mypy_cache"))
    # --no-isolation: build with this environment's setuptools, no download.
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(work / "out"), str(source)], cwd=str(work))
    found = {name.rsplit(".", 1)[-1] if name.endswith(".whl") else "sdist": str(work / "out" / name)
             for name in os.listdir(work / "out")}
    assert set(found) == {"sdist", "whl"}, found
    return found


def test_import_loads_neither_graphviz_nor_http_modules():
    code = ("import sys, tinygrad_cnn as tg\n"
            "heavy = ['graphviz', 'http.client', 'urllib.request', 'tinygrad_cnn.viz', 'tinygrad_cnn.data']\n"
            "print([name for name in heavy if name in sys.modules])\n"
            "tg.viz.draw_graph, tg.data.DataLoader\n"  # first use imports them
            "print([name for name in heavy if name not in sys.modules])\n")
    result = run([sys.executable, "-c", code], cwd=REPO_ROOT, PYTHONPATH=REPO_ROOT)
    assert result.stdout.split("\n")[:2] == ["[]", "[]"]


def test_lazy_submodules_behave_like_attributes():
    from tinygrad_cnn import data, viz

    assert tg.data is data and tg.viz is viz
    assert {"data", "viz"} <= set(dir(tg)) and {"data", "viz"} <= set(tg.__all__)
    with pytest.raises(AttributeError, match="module 'tinygrad_cnn' has no attribute 'no_such_thing'"):
        tg.no_such_thing  # noqa: B018


def test_package_readme_reads_right_on_an_index_page():
    with open(PACKAGE_README, encoding="utf-8") as file:
        text = file.read()
    # Links and images with relative targets break on a package index; so do make targets.
    targets = re.findall(r"\]\(([^)]*)\)", text) + re.findall(r'src="([^"]*)"', text)
    assert [target for target in targets if not target.startswith("https://")] == []
    assert "make " not in text
    assert "pip install tinygrad_cnn" in text and "tinygrad-cnn --help" in text
    assert "'tinygrad_cnn[plot,progress]'" in text
    # Its python block runs as written.
    sys.path.insert(0, os.path.join(REPO_ROOT, "tests"))
    try:
        from doc_blocks import run_page
    finally:
        sys.path.pop(0)
    assert run_page(PACKAGE_README) == 0


def test_metadata_names_the_license_and_the_numpy_bound(dists):
    with zipfile.ZipFile(dists["whl"]) as wheel:
        names = wheel.namelist()
        metadata_name = next(name for name in names if name.endswith(".dist-info/METADATA"))
        metadata = wheel.read(metadata_name).decode()
    assert "License-Expression: MIT" in metadata
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert "Requires-Dist: numpy>=2.0" in metadata
    assert "Provides-Extra: plot" in metadata and "Provides-Extra: progress" in metadata
    assert "Classifier: Intended Audience :: Education" in metadata
    assert "pip install tinygrad_cnn" in metadata  # the description is PACKAGE_README.md
    assert "tinygrad_cnn/viz/page/stepper.js" in names  # the page's files are package data
    assert "tinygrad_cnn/py.typed" in names  # type checkers read the installed package's hints (PEP 561)
    assert not any(name.startswith("tests/") for name in names)


# Slow (collecting the whole suite again takes 10-70 s on 2 busy cores): .ci/run runs it after `make test`.
@pytest.mark.slow
def test_sdist_carries_what_its_tests_need_and_they_collect(dists, tmp_path):
    with tarfile.open(dists["sdist"]) as archive:
        archive.extractall(tmp_path, filter="data")
    (root,) = tmp_path.iterdir()
    for needed in ("LICENSE", "PACKAGE_README.md", "README.md", "tinygrad_cnn/py.typed", "tests/conftest.py",
                   "tests/doc_blocks.py",
                   "docs/training.md", "docs/images/chain_rule_forward.svg", "examples/chain_rule.py"):
        assert (root / needed).is_file(), needed
    # Collected from the unpacked sdist, importing its own tinygrad_cnn (its folder comes first on sys.path).
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                            cwd=root, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(root)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "error" not in result.stdout.split("\n")[-2].lower(), result.stdout[-3000:]
    assert re.search(r"^\d+/\d+ tests collected|^\d+ tests collected", result.stdout.split("\n")[-2]), \
        result.stdout[-500:]
    assert "test_cli.py::test_version_prints_the_package_version" in result.stdout


def test_wheel_installs_into_a_fresh_venv_and_its_command_runs(dists, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=str(tmp_path))
    python = str(venv / "bin" / "python")
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--quiet",
         dists["whl"]], cwd=str(tmp_path))
    # numpy and graphviz come from this environment: a path line in a .pth file (no download). It is
    # added after the install, so that pip does not take a tinygrad_cnn of this environment for the
    # wheel's; and it comes after the venv's own site-packages, so the wheel's tinygrad_cnn is found first.
    fresh_site = run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                     cwd=str(tmp_path)).stdout.strip()
    with open(os.path.join(fresh_site, "dependencies.pth"), "w") as file:
        file.write(sysconfig.get_path("purelib") + "\n")
    command = str(venv / "bin" / "tinygrad-cnn")
    # Run from tmp_path, outside the repository, with no PYTHONPATH pointing into it.
    env = {"PYTHONPATH": "", "PYTHONNOUSERSITE": "1"}
    where = run([python, "-c", "import tinygrad_cnn; print(tinygrad_cnn.__file__)"], cwd=str(tmp_path), **env)
    assert where.stdout.strip().startswith(fresh_site)
    assert run([command, "--version"], cwd=str(tmp_path), **env).stdout.strip() == f"tinygrad-cnn {tg.__version__}"
    usage = run([command, "--help"], cwd=str(tmp_path), **env).stdout
    assert "train" in usage and "evaluate" in usage and "graph" in usage
    run([command, "graph", "--example", "chain-rule", "-o", "chain.dot"], cwd=str(tmp_path), **env)
    assert (tmp_path / "chain.dot").read_text().startswith("digraph")
