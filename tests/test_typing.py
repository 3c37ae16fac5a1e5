"""The package's type hints, as its users' type checkers see them: ordinary user code
(tests/typed_user_code/user_code.py) passes `mypy --strict`, and that code runs.

mypy is one of the dev tools (pyproject.toml), so CI has it: no skip when it is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER_CODE = os.path.join("tests", "typed_user_code", "user_code.py")
# A deliberate error: if mypy did not report it, a clean result for USER_CODE would prove nothing.
USER_CODE_WITH_ERROR = os.path.join("tests", "typed_user_code", "user_code_with_error.py")


def run_mypy_strict(tmp_path, *files: str) -> subprocess.CompletedProcess:
    """mypy --strict on `files`, from the repository's root (where `tinygrad_cnn` is importable), as a user
    runs it on their own code: the project's own mypy settings left out (an empty config file), and
    errors inside the library not reported (--follow-imports=silent, as for an installed package)."""
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")
    argv = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--config-file", str(config),
            "--cache-dir", str(tmp_path / "mypy_cache"), "--no-color-output", "--no-error-summary", *files]
    return subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


def errors_in(output: str, path: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(path + ":") and ": error:" in line]


def test_user_code_passes_mypy_strict(tmp_path):
    result = run_mypy_strict(tmp_path, USER_CODE, USER_CODE_WITH_ERROR)
    output = result.stdout + result.stderr
    # The negative control first: mypy ran, read the library's types and reported the deliberate error.
    assert errors_in(output, USER_CODE_WITH_ERROR) == [
        f'{USER_CODE_WITH_ERROR}:6: error: "Tensor" has no attribute "no_such_method"  [attr-defined]'
    ], output
    assert errors_in(output, USER_CODE) == [], output


def test_user_code_runs():
    result = subprocess.run([sys.executable, USER_CODE], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": REPO_ROOT})
    assert result.returncode == 0, result.stdout + result.stderr
