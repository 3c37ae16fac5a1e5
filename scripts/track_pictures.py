"""Draw the pictures of the learner's track (docs/conv_as_dense_layer.md, docs/routing.md) as SVG.

    python scripts/track_pictures.py                 # into docs/images
    python scripts/track_pictures.py --out-dir DIR   # somewhere else

Plain SVG written from Python: grids of numbers, coloured cells and arrows,
with no program needed beyond Python and numpy. The numbers are computed here
from the example of the pages (a 3x3 input, a 2x2 filter, a 2x2 upstream
gradient; the tiny CNN's max-pool), so a picture cannot disagree with them.
tests/test_docs_images.py checks that the committed files are what this
script writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DOCS_IMAGES = ROOT / "docs" / "images"

# The example of docs/conv_as_dense_layer.md.
X = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
W = np.array([[1, 2], [3, 4]])
G = np.array([[1, 2], [-1, 1]])

# The tiny CNN's ReLU output and the gradient arriving at its max-pool (docs/cnn_step_by_step.md).
RELU = np.array([[7, 3, 0], [1, 3, 2], [4, 6, 1]])
POOL_GRAD = np.array([[-1.5, 0.5], [0.5, 1.0]])

# One colour per filter weight, used wherever that weight (or its gradient) appears.
TAP_COLOURS = {(0, 0): "#f4a582", (0, 1): "#92c5de", (1, 0): "#b8e186", (1, 1): "#d8b5e8"}
CELL = 34
FONT = "font-family='DejaVu Sans, Arial, sans-serif'"


def number(value: float) -> str:
    """1.0 -> '1', 1.5 -> '1.5'."""
    return f"{value:g}"


class Svg:
    """A list of SVG elements and the size of the drawing."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.elements: list[str] = []

    def text(self, x: float, y: float, content: str, size: int = 13, anchor: str = "middle",
             weight: str = "normal") -> None:
        content = content.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        self.elements.append(f"<text x='{x:g}' y='{y:g}' font-size='{size}' text-anchor='{anchor}' "
                             f"font-weight='{weight}' {FONT}>{content}</text>")

    def cell(self, x: float, y: float, label: str, fill: str = "white", stroke: str = "#444",
             stroke_width: float = 1, text_colour: str = "black") -> None:
        self.elements.append(f"<rect x='{x:g}' y='{y:g}' width='{CELL}' height='{CELL}' fill='{fill}' "
                             f"stroke='{stroke}' stroke-width='{stroke_width:g}'/>")
        self.elements.append(f"<text x='{x + CELL / 2:g}' y='{y + CELL / 2 + 5:g}' font-size='13' "
                             f"text-anchor='middle' fill='{text_colour}' {FONT}>{label}</text>")

    def grid(self, x: float, y: float, values: np.ndarray, fills: dict | None = None, title: str = "") -> None:
        """A matrix of numbers; `fills` maps (row, column) to a colour."""
        fills = fills or {}
        if title:
            self.text(x + values.shape[1] * CELL / 2, y - 8, title)
        for (row, column), value in np.ndenumerate(values):
            self.cell(x + column * CELL, y + row * CELL, number(value), fills.get((row, column), "white"))

    def frame(self, x: float, y: float, rows: int, columns: int, colour: str = "#d62728") -> None:
        """A thick outline around a block of cells."""
        self.elements.append(f"<rect x='{x:g}' y='{y:g}' width='{columns * CELL}' height='{rows * CELL}' "
                             f"fill='none' stroke='{colour}' stroke-width='3'/>")

    def arrow(self, x1: float, y1: float, x2: float, y2: float, colour: str = "#d62728") -> None:
        self.elements.append(f"<line x1='{x1:g}' y1='{y1:g}' x2='{x2:g}' y2='{y2:g}' stroke='{colour}' "
                             f"stroke-width='2' marker-end='url(#head)'/>")

    def render(self) -> str:
        head = ("<defs><marker id='head' markerWidth='10' markerHeight='8' refX='9' refY='4' orient='auto' "
                "markerUnits='userSpaceOnUse'>"
                "<path d='M0,0 L10,4 L0,8 z' fill='#d62728'/></marker></defs>")
        body = "\n".join(self.elements)
        return (f"<?xml version='1.0' encoding='UTF-8'?>\n<svg xmlns='http://www.w3.org/2000/svg' "
                f"width='{self.width}' height='{self.height}' viewBox='0 0 {self.width} {self.height}'>\n"
                f"<rect width='100%' height='100%' fill='white'/>\n{head}\n{body}\n</svg>\n")


def conv_matrix(kernel: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """The dense matrix M with M @ x.flatten() == valid cross-correlation of x with the kernel, flattened."""
    kh, kw = kernel.shape
    out_h, out_w = image_shape[0] - kh + 1, image_shape[1] - kw + 1
    matrix = np.zeros((out_h * out_w, image_shape[0] * image_shape[1]), dtype=kernel.dtype)
    for i in range(out_h):
        for j in range(out_w):
            for a in range(kh):
                for b in range(kw):
                    matrix[i * out_w + j, (i + a) * image_shape[1] + (j + b)] = kernel[a, b]
    return matrix


def valid_cross_correlation(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    kh, kw = kernel.shape
    out = np.zeros((image.shape[0] - kh + 1, image.shape[1] - kw + 1), dtype=np.result_type(image, kernel))
    for i, j in np.ndindex(out.shape):
        out[i, j] = (image[i:i + kh, j:j + kw] * kernel).sum()
    return out


def draw_dense_matrix() -> str:
    """The 4x9 matrix of the 2x2 filter on a 3x3 input: each row is one output, coloured by filter weight."""
    matrix = conv_matrix(W, X.shape)
    left, top = 150, 70
    svg = Svg(760, top + 4 * CELL + 120)
    svg.text(svg.width / 2, 22, "conv2d of a 3x3 input with a 2x2 filter = a 4x9 matrix times the flattened input",
             size=14, weight="bold")
    for column in range(9):
        svg.text(left + column * CELL + CELL / 2, top - 8, f"x{column // 3}{column % 3}", size=11)
    for row in range(4):
        i, j = divmod(row, 2)
        svg.text(left - 10, top + row * CELL + CELL / 2 + 5, f"y{i}{j} = row {row}", anchor="end")
        for column in range(9):
            a, b = (column // 3) - i, (column % 3) - j
            if 0 <= a < 2 and 0 <= b < 2:
                svg.cell(left + column * CELL, top + row * CELL, number(matrix[row, column]), TAP_COLOURS[a, b])
            else:
                svg.cell(left + column * CELL, top + row * CELL, "0", "#f2f2f2", stroke="#bbb",
                         text_colour="#aaa")
    legend_top = top + 4 * CELL + 30
    for index, ((a, b), colour) in enumerate(TAP_COLOURS.items()):
        x = 20 + index * 125
        svg.cell(x, legend_top, number(W[a, b]), colour)
        svg.text(x + CELL + 6, legend_top + CELL / 2 + 5, f"= W[{a},{b}]", anchor="start")
    svg.text(20, legend_top + CELL + 30, "grey zeros: the inputs an output does not see (sparse, local connectivity);",
             size=12, anchor="start")
    svg.text(20, legend_top + CELL + 48, "each colour four times: the same weight in every row (weight sharing)",
             size=12, anchor="start")
    return svg.render()


def draw_filter_gradient() -> str:
    """dW[a, b]: the upstream gradient g laid over the input at offset (a, b), products summed."""
    grad = valid_cross_correlation(X, G)
    svg = Svg(4 * 170 + 30, 250)
    svg.text(svg.width / 2, 22, "filter gradient dL/dW = x ⋆ g: slide g over the input x", size=14,
             weight="bold")
    for index, (a, b) in enumerate(np.ndindex(2, 2)):
        left, top = 30 + index * 170, 70
        fills = {(a + i, b + j): TAP_COLOURS[a, b] for i, j in np.ndindex(2, 2)}
        svg.grid(left, top, X, fills, title=f"g over x at offset ({a},{b})")
        svg.frame(left + b * CELL, top + a * CELL, 2, 2)
        for i, j in np.ndindex(2, 2):  # g's value in the corner of the cell it multiplies
            svg.text(left + (b + j) * CELL + CELL - 3, top + (a + i) * CELL + 11, f"×{number(G[i, j])}",
                     size=9, anchor="end")
        terms = " + ".join(f"{number(G[i, j])}·{number(X[a + i, b + j])}" for i, j in np.ndindex(2, 2))
        svg.text(left + 1.5 * CELL, top + 3 * CELL + 26, terms.replace("+ -", "- "), size=11)
        svg.text(left + 1.5 * CELL, top + 3 * CELL + 46, f"dL/dW[{a},{b}] = {number(grad[a, b])}", size=13,
                 weight="bold")
    return svg.render()


def draw_input_gradient() -> str:
    """dx = the padded g cross-correlated with rot180(W): one position worked, and the whole result."""
    padded = np.pad(G, 1)
    rotated = W[::-1, ::-1]
    dx = valid_cross_correlation(padded, rotated)
    row, column = 1, 1  # the position worked out in the picture
    svg = Svg(640, 270)
    svg.text(svg.width / 2, 22, "input gradient dL/dx = g ∗ W: pad g, slide rot180(W) over it", size=14,
             weight="bold")
    left, top = 60, 80
    fills = {(r, c): "#f2f2f2" for r, c in np.ndindex(padded.shape) if r in (0, 3) or c in (0, 3)}
    svg.grid(left, top, padded, fills, title="g, padded with zeros")
    svg.frame(left + column * CELL, top + row * CELL, 2, 2)
    for i, j in np.ndindex(2, 2):
        svg.text(left + (column + j) * CELL + CELL - 3, top + (row + i) * CELL + 11, f"×{number(rotated[i, j])}",
                 size=9, anchor="end")
    rot_left = 270
    svg.grid(rot_left, top, rotated, title="rot180(W)")
    svg.text(rot_left + CELL, top + 2 * CELL + 22, "W read backwards", size=11)
    result_left = 420
    svg.grid(result_left, top, dx, {(row, column): "#fdd0a2"}, title="dL/dx")
    terms = " + ".join(f"{number(padded[row + i, column + j])}·{number(rotated[i, j])}" for i, j in np.ndindex(2, 2))
    svg.text(svg.width / 2, top + 4 * CELL + 30,
             f"dL/dx[{row},{column}] = {terms} = {number(dx[row, column])}".replace("+ -", "- "), size=13)
    return svg.render()


def draw_max_pool_routing() -> str:
    """The tiny CNN's 2x2 max-pool, stride 1: each window's gradient goes to its winner."""
    svg = Svg(660, 300)
    svg.text(svg.width / 2, 22, "max-pool backward: each window's gradient goes to the window's maximum",
             size=14, weight="bold")
    winners = {}
    for i, j in np.ndindex(2, 2):
        window = RELU[i:i + 2, j:j + 2]
        a, b = np.unravel_index(np.argmax(window), window.shape)  # the first maximum, row by row
        winners[i, j] = (int(i + a), int(j + b))
    routed = np.zeros_like(RELU, dtype=float)
    for (i, j), (r, c) in winners.items():
        routed[r, c] += POOL_GRAD[i, j]
    top, window_names = 70, {(0, 0): "top-left", (0, 1): "top-right", (1, 0): "bottom-left", (1, 1): "bottom-right"}
    relu_left, relu_top = 330, 85
    svg.text(110, top - 8, "dL/dpool, one cell per window")
    for index, (i, j) in enumerate(winners):
        y = top + index * (CELL + 12)
        svg.text(130, y + CELL / 2 + 5, f"{window_names[i, j]} window", size=12, anchor="end")
        svg.cell(140, y, number(POOL_GRAD[i, j]), "#fdd0a2")
    fills = {winner: "#fdd0a2" for winner in winners.values()}
    svg.grid(relu_left, relu_top, RELU, fills, title="ReLU output, winners shaded")
    for index, (r, c) in enumerate(winners.values()):  # drawn over the grid, ending inside the winner's cell
        y = top + index * (CELL + 12) + CELL / 2
        svg.arrow(140 + CELL + 4, y, relu_left + c * CELL + 9, relu_top + r * CELL + CELL / 2 - 9 + 6 * (index % 2))
    grad_left = 500
    svg.grid(grad_left, relu_top, routed, title="dL/d(ReLU output)")
    svg.text(svg.width / 2, top + 4 * (CELL + 12) + 25,
             "the 6 wins two windows and receives 0.5 + 1 = 1.5; the tie of two 3s goes to the first, (0,1);",
             size=12)
    svg.text(svg.width / 2, top + 4 * (CELL + 12) + 43, "every cell that wins no window gets 0", size=12)
    return svg.render()


PICTURES = {
    "conv_as_dense_matrix.svg": draw_dense_matrix,
    "conv_filter_gradient.svg": draw_filter_gradient,
    "conv_input_gradient.svg": draw_input_gradient,
    "max_pool_routing.svg": draw_max_pool_routing,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=DOCS_IMAGES, help="where to write (default docs/images)")
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, draw in PICTURES.items():
        path = args.out_dir / name
        path.write_text(draw(), encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
