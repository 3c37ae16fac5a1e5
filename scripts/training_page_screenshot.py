"""Regenerate docs/images/training_page.png and measure the training pages.

    python scripts/training_page_screenshot.py                  # the screenshot, then the measurements
    python scripts/training_page_screenshot.py --out-dir /tmp   # somewhere else

The screenshot is the page of examples/learn_a_filter.py, opened in Debian's
chromium (driven by Playwright) at one step, with one filter cell read by
hovering. Then it prints the size, load time and step time of that page and of
a `train --watch` page of LeNet over 20 steps (1,280 Fashion-MNIST images,
batch 64), when Fashion-MNIST is installed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))
import learn_a_filter  # noqa: E402

from tinygrad_cnn.cli import main as cli_main  # noqa: E402
from tinygrad_cnn.data import FASHION_MNIST_DIR  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run"]
SCREENSHOT_STEP = 12


def measure(browser, path: Path, screenshot: Path | None = None) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    start = time.perf_counter()
    page.goto(path.as_uri())
    page.wait_for_function("window.trainer !== undefined")
    loaded = time.perf_counter() - start
    steps = page.evaluate("window.trainer.steps")
    start = time.perf_counter()
    for k in range(steps):
        page.evaluate(f"window.trainer.go({k})")
    per_step = (time.perf_counter() - start) / steps
    if screenshot is not None:
        page.evaluate(f"window.trainer.go({SCREENSHOT_STEP})")
        box = page.locator("#mosaics canvas").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.5)  # the cell W[0, 0, 1, 0]
        page.screenshot(path=str(screenshot))
        print(f"wrote {screenshot}")
    page.close()
    print(f"{path.name}: {steps} steps, {path.stat().st_size / 1e6:.2f} MB, loaded in {loaded:.2f} s, "
          f"{per_step * 1000:.0f} ms a step; errors: {errors or 'none'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        learn_a_filter.main(["--out-dir", str(folder)])
        pages = [(folder / learn_a_filter.PAGE_NAME, args.out_dir / "training_page.png")]
        if os.path.isdir(FASHION_MNIST_DIR):
            watch = folder / "lenet_first_steps.html"
            cli_main(["train", "--epochs", "1", "--limit-train", "1280", "--limit-test", "100", "--batch-size", "64",
                      "--no-progress", "--out", str(folder / "run"), "--watch", str(watch), "--watch-steps", "20"])
            pages.append((watch, None))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            for path, screenshot in pages:
                measure(browser, path, screenshot)
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
