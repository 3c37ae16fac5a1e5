// The colour scales both pages share (the step-through page and the training page).
"use strict";
const Colours = (function () {
  // A number as a colour on a scale from -max to +max: blue below zero, white at zero, red above.
  function blueWhiteRed(v, max) {
    const t = max > 0 ? Math.max(-1, Math.min(1, v / max)) : 0;
    const fade = Math.round(255 * (1 - Math.abs(t)));
    return t >= 0 ? [255, fade, fade] : [fade, fade, 255];
  }
  function span(text, cls) {
    const e = document.createElement("span");
    e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  // The key of a scale: the text low, the colours from -max to +max, the text high, a note.
  // colour(v, max) gives [r, g, b], as blueWhiteRed does.
  function scaleBar(colour, max, low, high, note) {
    const bar = document.createElement("div");
    bar.className = "scale";
    const c = document.createElement("canvas");
    c.width = 100; c.height = 1; c.style.width = "100px"; c.style.height = "10px";
    const ctx = c.getContext("2d"), img = ctx.createImageData(100, 1);
    for (let i = 0; i < 100; i++) img.data.set([...colour((i / 49.5 - 1) * max, max), 255], 4 * i);
    ctx.putImageData(img, 0, 0);
    bar.append(span(low), c, span(high), span(note, "hint"));
    return bar;
  }
  return { blueWhiteRed, scaleBar };
})();
