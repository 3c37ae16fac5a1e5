"""The pictures of the docs are what their scripts draw today: the tiny CNN's backward drawing
(the library's own render_graph) and the learner's track pictures (scripts/track_pictures.py)."""

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
    # The input's gradient of section 9 is drawn too: the input is a leaf that requires grad.
    input_node = next(item for item in visible_texts(committed) if " input / shape" in item)
    assert "grad / [-3, 1, 0, 0] / [1.5, -2, 0.5, 0] / [0, 3, 0, 0] / [0, -1.5, 1.5, 0]" in input_node
    assert re.search(r"conv2d", texts)


def load_script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_track_pictures_are_in_sync_and_embedded(tmp_path):
    script = load_script(REPO / "scripts" / "track_pictures.py")
    assert script.main(["--out-dir", str(tmp_path)]) == 0
    pages = "".join(path.read_text(encoding="utf-8") for path in (REPO / "docs").glob("*.md"))
    for name in script.PICTURES:
        fresh = (tmp_path / name).read_text(encoding="utf-8")
        committed = (REPO / "docs" / "images" / name).read_text(encoding="utf-8")
        assert fresh == committed, f"docs/images/{name} is out of date: run `python scripts/track_pictures.py`"
        ET.fromstring(committed)  # well-formed SVG
        assert f"(images/{name})" in pages, f"no page shows {name}"


def test_track_pictures_hold_the_pages_numbers():
    texts = {}
    for name in ("conv_as_dense_matrix.svg", "conv_filter_gradient.svg", "conv_input_gradient.svg",
                 "max_pool_routing.svg"):
        root = ET.fromstring((REPO / "docs" / "images" / name).read_text(encoding="utf-8"))
        texts[name] = [text.text for text in root.iter(f"{SVG}text")]
    matrix_cells = [text for text in texts["conv_as_dense_matrix.svg"] if text in {"0", "1", "2", "3", "4"}]
    assert matrix_cells[:36].count("0") == 20  # 4 rows x 9 columns: 16 weights, 20 structural zeros
    for value in ("dL/dW[0,0] = 6", "dL/dW[0,1] = 9", "dL/dW[1,0] = 15", "dL/dW[1,1] = 18"):
        assert value in texts["conv_filter_gradient.svg"]
    assert "dL/dx[1,1] = 1·4 + 2·3 - 1·2 + 1·1 = 9" in texts["conv_input_gradient.svg"]
    assert texts["max_pool_routing.svg"].count("1.5") == 1 and "-1.5" in texts["max_pool_routing.svg"]
