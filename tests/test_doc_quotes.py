"""The code that docs/autograd.md quotes in its tour of the code (section 13) is
the code of the package, line for line: a quote that no file holds any more fails."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TOUR = "## 13. A tour of the code"


def tour_quotes() -> list[str]:
    text = (REPO / "docs" / "autograd.md").read_text(encoding="utf-8")
    start = text.index(TOUR)
    end = text.find("\n## ", start + len(TOUR))
    section = text[start:end if end != -1 else None]
    return re.findall(r"```text\n(.*?)```", section, flags=re.S)


def stripped_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


PACKAGE_FILES = {path: stripped_lines(path.read_text(encoding="utf-8"))
                 for path in sorted((REPO / "tinygrad_cnn").rglob("*.py"))}


def holds(lines: list[str], quote: list[str]) -> bool:
    return any(lines[i : i + len(quote)] == quote for i in range(len(lines) - len(quote) + 1))


def test_the_tour_quotes_code():
    assert len(tour_quotes()) >= 5


@pytest.mark.parametrize("quote", tour_quotes(), ids=lambda q: stripped_lines(q)[0][:40])
def test_each_quote_is_in_a_file_of_the_package(quote):
    lines = stripped_lines(quote)
    assert any(holds(file_lines, lines) for file_lines in PACKAGE_FILES.values()), (
        "docs/autograd.md section 13 quotes code that no file of tinygrad_cnn holds (line for line):\n" + quote
    )


def test_a_changed_quote_is_caught():
    # The check's negative control: one changed line, and no file holds the quote.
    quote = tour_quotes()[0].replace("return", "return  0 +", 1)
    assert not any(holds(file_lines, stripped_lines(quote)) for file_lines in PACKAGE_FILES.values())
