"""Count the words a reader of the learner's track reads before the two milestones.

    python scripts/track_words.py

The track's pages are read in the order of the README's table ("The learner's
track", in "Documentation: a reading path"). Every whitespace-separated token
of a page counts as a word: prose, tables, code blocks, exercises and their
solutions alike, so the counts are an upper bound on what a reader must get
through (a last column gives each page's words outside code blocks). The
two milestones are the first statement of the filter-gradient rule and the
filter's update in numbers; the script prints how many words come before the
end of each. tests/test_docs.py asserts the targets:
fewer than 5,000 and 8,000 words.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILTER_GRADIENT_TARGET = 5_000
FILTER_UPDATE_TARGET = 8_000


@dataclass
class Milestone:
    name: str
    page: str   # the page that holds it, relative to the repository
    text: str   # the milestone ends where this text ends


MILESTONES = [
    Milestone("the filter-gradient rule", "docs/conv_as_dense_layer.md",
              "**the filter gradient is the valid\ncross-correlation of the input with the upstream gradient**"),
    Milestone("the filter update in numbers", "docs/cnn_step_by_step.md",
              "w  = [[2, 0], [-1, 1]] - 0.1 * [[1, -3.5], [-0.5, -3]]   = [[1.9, 0.35], [-0.95, 1.3]]"),
]


def track_pages(readme: str) -> list[str]:
    """The pages linked from the learner's track table of the README, in order, each once."""
    start = readme.index("**The learner's track**")
    end = readme.index("**How the engine works**", start)
    pages: list[str] = []
    for page in re.findall(r"\]\((docs/[^)#]+\.md)", readme[start:end]):
        if page not in pages:
            pages.append(page)
    return pages


def count_words(text: str) -> int:
    return len(text.split())


def prose_words(text: str) -> int:
    """The words outside fenced code blocks: what is read rather than run."""
    return count_words(re.sub(r"^```.*?^```", "", text, flags=re.S | re.M))


def words_until_milestones(root: Path = ROOT) -> tuple[list[tuple[str, int]], dict[str, int]]:
    """Each page with its word count, and for each milestone the words read up to its end."""
    pages = track_pages((root / "README.md").read_text(encoding="utf-8"))
    per_page: list[tuple[str, int]] = []
    reached: dict[str, int] = {}
    words_before_page = 0
    for page in pages:
        text = (root / page).read_text(encoding="utf-8")
        for milestone in MILESTONES:
            if milestone.page == page:
                position = text.index(milestone.text) + len(milestone.text)
                reached[milestone.name] = words_before_page + count_words(text[:position])
        per_page.append((page, count_words(text)))
        words_before_page += count_words(text)
    missing = [milestone.name for milestone in MILESTONES if milestone.name not in reached]
    if missing:
        raise ValueError(f"track_words: the track's pages {pages} never reach {missing}")
    return per_page, reached


def main() -> int:
    per_page, reached = words_until_milestones()
    total = 0
    print(f"{'page':<32} {'words':>6} {'read so far':>12} {'outside code':>13}")
    for page, words in per_page:
        total += words
        prose = prose_words((ROOT / page).read_text(encoding="utf-8"))
        print(f"{page:<32} {words:>6} {total:>12} {prose:>13}")
    targets = {MILESTONES[0].name: FILTER_GRADIENT_TARGET, MILESTONES[1].name: FILTER_UPDATE_TARGET}
    for name, words in reached.items():
        verdict = "within" if words < targets[name] else "OVER"
        print(f"words until {name}: {words:,} ({verdict} the target of {targets[name]:,})")
    return 0 if all(words < targets[name] for name, words in reached.items()) else 1


if __name__ == "__main__":
    sys.exit(main())
