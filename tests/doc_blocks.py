"""Code blocks of the documentation pages: find them, and run a page's python blocks.

Used by tests/test_docs.py and tests/test_doc_commands.py. Run as a script,

    python tests/doc_blocks.py docs/convolution.md

it executes every ```python block of the page in order, in one namespace, in
the current directory, and on the first failure prints where it happened
(page, block number, line of the page) and exits with status 1.
"""

from __future__ import annotations

import re
import sys
import traceback
from dataclasses import dataclass

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[^`\n]*)$")


@dataclass
class Block:
    """One fenced code block: its language tag, its text and where it starts."""

    language: str
    code: str
    first_line: int  # 1-based line number in the page of the block's first line of code
    number: int      # 1-based position among the page's blocks of the same language


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced block of a markdown text, in order. Indented fences (inside
    list items) are dedented by the fence's indentation."""
    lines = text.split("\n")
    blocks: list[Block] = []
    counts: dict[str, int] = {}
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence = match.group("indent"), match.group("fence")
        language = match.group("info").strip().split(" ")[0].lower()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            line = lines[j]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            j += 1
        counts[language] = counts.get(language, 0) + 1
        blocks.append(Block(language, "\n".join(body) + "\n", i + 2, counts[language]))
        i = j + 1
    return blocks


def python_blocks(text: str) -> list[Block]:
    return [block for block in fenced_blocks(text) if block.language in ("python", "py")]


def run_page(path: str) -> int:
    """Execute the page's python blocks in one namespace; 0 when all ran."""
    with open(path, encoding="utf-8") as file:
        blocks = python_blocks(file.read())
    namespace: dict = {"__name__": "__main__"}
    for block in blocks:
        # Leading newlines make the traceback's line numbers those of the page.
        source = "\n" * (block.first_line - 1) + block.code
        try:
            exec(compile(source, path, "exec"), namespace)
        except BaseException as error:  # noqa: BLE001 - reported, with its place
            frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename == path]
            line = frames[-1].lineno if frames else block.first_line
            if isinstance(error, SyntaxError) and error.filename == path:
                line = error.lineno
            print(f"{path}: python block {block.number} (starting at line {block.first_line}) "
                  f"failed at line {line}: {type(error).__name__}: {error}", file=sys.stderr)
            traceback.print_exc()
            return 1
        print(f"{path}: python block {block.number} ok")
    return 0


if __name__ == "__main__":
    sys.exit(run_page(sys.argv[1]))
