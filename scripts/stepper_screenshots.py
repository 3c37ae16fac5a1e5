"""Regenerate the screenshots of the step-through page in docs/images/.

    python scripts/stepper_screenshots.py                 # every graph below
    python scripts/stepper_screenshots.py chain-rule      # one of them
    python scripts/stepper_screenshots.py --out-dir /tmp  # somewhere else

Each graph is written as a page, opened in Debian's chromium (driven by
Playwright), stepped to one backward step, one node clicked (and for the tiny
CNN one cell of the filter's gradient, explained), and the window saved as
PNG. It also prints the page's size, how long the browser took to load it
and its slowest step.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import tinygrad_cnn as tg  # noqa: E402
from tinygrad_cnn.viz import chain_rule_example, save_stepper  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]


def _lenet() -> tg.Tensor:
    from tinygrad_cnn.viz.examples import model_training_step

    return model_training_step("lenet", 2, run_backward=False)


def _tiny_cnn() -> tg.Tensor:
    from tinygrad_cnn.viz import tiny_cnn_example  # the tiny CNN of the docs, where it exists

    return tiny_cnn_example(run_backward=False)["loss"]


@dataclass
class Shot:
    """A screenshot: the graph, the node whose gradient step is shown (and
    clicked), and the page's options."""

    build: Callable[[], tg.Tensor]
    select: str | None  # a tensor's name; None: the first 4-D leaf (a conv filter)
    file: str
    options: dict = field(default_factory=dict)
    height: int = 760
    width: int = 1400
    explain: bool = False  # click the first cell of the selected tensor's gradient part: its sum, its terms lit up
    after: int = 0  # steps past the one where the selected tensor receives its gradient


SHOTS = {
    "chain-rule": Shot(lambda: chain_rule_example(run_backward=False)["f"], "x", "stepper_chain_rule.png", height=620),
    # The step that visits relu #1's output: its gradient wires, to relu #1 and on to the conv1 box, lit up.
    "lenet": Shot(_lenet, "output of relu #1", "stepper_lenet.png", {"collapse_modules": True}, height=1000, after=1),
    "tiny-cnn": Shot(_tiny_cnn, "conv.weight", "stepper_tiny_cnn.png", {"collapse_modules": False}, height=900,
                     explain=True),
    "narrow": Shot(_tiny_cnn, "conv.weight", "stepper_800px.png", height=800, width=800),
}


def shoot(browser, name: str, shot: Shot, out_dir: Path, work: Path) -> None:
    tg.manual_seed(0)
    np.random.seed(0)
    path = Path(save_stepper(shot.build(), work / f"{name}.html", **shot.options))
    page = browser.new_page(viewport={"width": shot.width, "height": shot.height})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    start = time.perf_counter()
    page.goto(path.as_uri())
    page.wait_for_function("window.stepper !== undefined")
    loaded = time.perf_counter() - start
    # The slowest step, stepping through the whole pass once (milliseconds).
    slowest = page.evaluate(
        "(() => { let worst = 0; for (let k = 0; k < window.stepper.steps; k++) {"
        " const t = performance.now(); window.stepper.go(k); worst = Math.max(worst, performance.now() - t); }"
        " return worst; })()"
    )
    nodes = page.evaluate("JSON.parse(document.getElementById('tape').textContent).nodes")
    if shot.select is None:
        target = next(i for i, n in nodes.items() if n["kind"] == "leaf" and len(n["shape"]) == 4)
    else:
        target = next(i for i, n in nodes.items() if shot.select in (n["name"], n["label"]))
    # The backward step at which the target receives its gradient (from the op it feeds).
    steps = page.evaluate("window.stepper.steps")
    for k in range(steps):
        page.evaluate(f"window.stepper.go({k})")
        if page.evaluate("window.stepper.state()")["nodes"][target]["grad"] is not None:
            page.evaluate(f"window.stepper.go({k + shot.after})")
            break
    # The node as drawn in the view shown: its own element, or its "c-" twin in the collapsed drawing.
    element = page.evaluate(
        f"(() => {{ for (const id of ['{target}', 'c-{target}']) {{ const n = document.getElementById(id);"
        f" if (n && n.closest('[hidden]') === null) return id; }} return null; }})()"
    )
    if element:
        page.click(f"#{element}")
    else:  # hidden in a collapsed module: open it from the module's box
        box = nodes[target]["collapsedId"]
        page.click(f"#{box}")
        page.click(f"#details button:text-is('{nodes[target]['label']}')")
    page.evaluate(f"document.getElementById('{element or box}').scrollIntoView({{block: 'center'}})")
    if shot.explain:
        page.click(f'#step-panel .grid[data-node="{target}"][data-of="part"] td[data-flat="0"]')
        page.evaluate("document.querySelector('#step-panel .explanation').scrollIntoView({block: 'center'})")
    out = out_dir / shot.file
    page.screenshot(path=str(out))
    page.close()
    if errors:
        raise RuntimeError(f"{name}: the page reported errors: {errors}")
    size = path.stat().st_size / 1e6
    print(f"{name}: wrote {out} (page {size:.2f} MB, loaded in {loaded * 1000:.0f} ms, slowest step {slowest:.0f} ms)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"graphs to shoot (default: all of {', '.join(SHOTS)})")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args(argv)
    names = args.names or list(SHOTS)
    unknown = [n for n in names if n not in SHOTS]
    if unknown:
        parser.error(f"unknown graph {unknown[0]!r}; known: {', '.join(SHOTS)}")
    from playwright.sync_api import sync_playwright

    args.out_dir.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p, tempfile.TemporaryDirectory() as work:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for name in names:
            try:
                shoot(browser, name, SHOTS[name], args.out_dir, Path(work))
            except ImportError as error:
                print(f"{name}: skipped ({error})")
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
