"""The one self-contained HTML file that each page is: the step-through page and the training page.

A page is a template of viz/page/ filled in. Both templates begin with the
same head (head.html: the Content-Security-Policy that forbids loading
anything, the title, the style), and both scripts start with the same colour
scales (colours.js). Everything is inlined, so the file opens from disk,
needs no server and loads nothing from anywhere.
"""

from __future__ import annotations

import json
import math
import re
from importlib import resources
from typing import Any

__all__ = ["content_security_policy", "fill_page", "json_for_script", "page_asset", "page_script"]


def page_asset(name: str) -> str:
    """The text of one file of viz/page/."""
    return (resources.files("tinygrad_cnn.viz") / "page" / name).read_text(encoding="utf-8")


def content_security_policy(data_images: bool = False) -> str:
    """The pages' policy: nothing is loaded from anywhere, only the page's own
    inline script and style run (and, with data_images, images written inline
    as data: URLs are allowed)."""
    directives = ["default-src 'none'", "script-src 'unsafe-inline'", "style-src 'unsafe-inline'"]
    if data_images:
        directives.append("img-src data:")
    directives += ["form-action 'none'", "base-uri 'none'"]
    return "; ".join(directives)


def page_script(*names: str) -> str:
    """The page's script: the shared colour scales, then the named files of viz/page/ in order."""
    return "\n".join(page_asset(name) for name in ("colours.js", *names))


def _nonfinite_as_text(value: Any) -> Any:
    """JSON has no NaN or infinity: such a number (in a dict or list too) becomes the text "nan", "inf" or "-inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _nonfinite_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nonfinite_as_text(v) for v in value]
    return value


def json_for_script(data: Any) -> str:
    """JSON text that is safe inside an HTML <script> element, with a NaN or
    an infinity written as the text "nan", "inf" or "-inf".

    The browser ends a script at "</script", and after "<!--" followed by
    "<script" it no longer sees the real end at all: no "<" or ">" may
    appear literally, and no "&" either, for good measure. In JSON,
    "\\u003c" is the same character as "<" (JSON.parse reads it back).
    """
    text = json.dumps(_nonfinite_as_text(data), separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def fill_page(template: str, parts: dict[str, str]) -> str:
    """The page template `template` (a file of viz/page/) with the shared head
    put in at {{head}}, then each {{marker}} replaced by parts["{{marker}}"].

    The markers are replaced in one pass, so a marker inside an inserted text
    (a title, say) is never replaced again.
    """
    text = page_asset(template).replace("{{head}}", page_asset("head.html").rstrip("\n"))
    return re.sub(r"\{\{\w+\}\}", lambda match: parts[match.group(0)], text)
