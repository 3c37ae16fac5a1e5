"""The drawing on docs/cnn_step_by_step.md is what the library draws today."""

from __future__ import annotations

import importlib.util
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"


def visible_texts(svg: str) -> list[str]:
    """Every node's, edge's and cluster's texts: what a reader sees, positions aside."""
    items = []
    for group in ET.fromstring(svg).iter(f"{SVG}g"):
        if group.get("class") in ("node", "edge", "cluster"):
            texts = " / ".join((text.text or "").strip() for text in group.iter(f"{SVG}text"))
            items.append(f"{group.find(f'{SVG}title').text}: {texts}")
    return sorted(items)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_tiny_cnn_drawing_is_in_sync(tmp_path):
    path = REPO / "examples" / "cnn_step_by_step_drawing.py"
    spec = importlib.util.spec_from_file_location("cnn_step_by_step_drawing", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--out-dir", str(tmp_path)]) == 0
    fresh = (tmp_path / script.FILE_NAME).read_text()
    committed = (REPO / "docs" / "images" / script.FILE_NAME).read_text()
    hint = f"docs/images/{script.FILE_NAME} is out of date: run `python examples/cnn_step_by_step_drawing.py --docs`"
    assert visible_texts(fresh) == visible_texts(committed), hint
    # The page's numbers are in the picture.
    texts = " ".join(visible_texts(committed))
    for number in ("[1, -3.5]", "[-0.5, -3]", "[-1.5, 0.5, 0.5, 1]", "[0.5]", "0.6931"):
        assert number in texts
    assert re.search(r"conv2d", texts)
