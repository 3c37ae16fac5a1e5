// The training page: replays recorded optimizer steps.
//
// The page holds the record (JSON in <script id="record">) and this script.
// Every number shown was recorded from the training loop in Python; the
// script's only arithmetic is the update W after - W of the parameters
// embedded exactly, and the scales of the colours.
//
// window.trainer = {steps, go(k), state(), final()} drives it (k is 0-based).
"use strict";
(function () {
  const record = JSON.parse(document.getElementById("record").textContent);
  const N = record.steps;
  const params = record.params;
  const byName = {};
  for (const p of params) byName[p.name] = p;

  // ---------------------------------------------------------------------
  // Arrays: decoded from base64 once, when first needed.
  // ---------------------------------------------------------------------
  function bytesOf(b64) {
    const raw = atob(b64);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }
  const decoded = new Map();
  // {values, approx}: exact Float32Array/Float64Array, or levels of a q8 heatmap turned back into numbers.
  function decode(entry) {
    if (entry === null || entry === undefined) return null;
    if (!decoded.has(entry)) {
      const bytes = bytesOf(entry.b64);
      let values, approx = false;
      if (entry.type === "f4") values = new Float32Array(bytes.buffer);
      else if (entry.type === "f8") values = new Float64Array(bytes.buffer);
      else {
        const levels = new Int8Array(bytes.buffer);
        values = new Float64Array(levels.length);
        for (let i = 0; i < levels.length; i++) values[i] = levels[i] / 127 * entry.scale;
        approx = true;
      }
      decoded.set(entry, { values, approx });
    }
    return decoded.get(entry);
  }
  const size = (shape) => shape.reduce((n, d) => n * d, 1);
  function absMax(values) {
    let m = 0;
    for (const v of values) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
    return m;
  }
  // The values as nested lists, like numpy's tolist().
  function nested(values, shape, offset = 0) {
    if (shape.length === 0) return values[offset];
    const inner = size(shape.slice(1));
    const out = [];
    for (let i = 0; i < shape[0]; i++) out.push(nested(values, shape.slice(1), offset + i * inner));
    return out;
  }
  // Value, gradient and update of parameter p at step k ({values, approx} or null).
  function valueAt(p, k) { return p.values ? decode(p.values[k]) : null; }
  function gradAt(p, k) { return p.grads ? decode(p.grads[k]) : null; }
  function updateAt(p, k) {
    if (!p.values) return null;
    if (p.updates) return decode(p.updates[k]);
    const before = valueAt(p, k).values, after = valueAt(p, k + 1).values;
    const values = new Float64Array(before.length);
    for (let i = 0; i < before.length; i++) values[i] = after[i] - before[i];
    return { values, approx: false };
  }

  // ---------------------------------------------------------------------
  // Numbers as text, colours
  // ---------------------------------------------------------------------
  function fmt(x, digits = 4) {
    if (typeof x === "string") return x; // "nan", "inf"
    if (x === null || x === undefined) return "\u2013";
    if (x === 0) return "0";
    return String(parseFloat(x.toPrecision(digits)));
  }
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  const valueColour = Colours.blueWhiteRed; // values: blue below zero, white at zero, red above
  // Gradients and updates: green below zero, white at zero, purple above.
  function gradColour(v, max) {
    const t = max > 0 ? Math.max(-1, Math.min(1, v / max)) : 0;
    const end = t >= 0 ? [128, 0, 160] : [0, 130, 0];
    const a = Math.abs(t);
    return end.map((c) => Math.round(255 + (c - 255) * a));
  }
  function scaleBar(max, colour, note) { return Colours.scaleBar(colour, max, fmt(-max, 3), fmt(max, 3), note); }
  // One 2-D map (h, w) at values[offset...] as a canvas, each cell zoom x zoom pixels.
  function mapCanvas(values, offset, h, w, max, colour, zoom) {
    const c = el("canvas", undefined, "map");
    c.width = w; c.height = h;
    c.style.width = w * zoom + "px"; c.style.height = h * zoom + "px";
    const ctx = c.getContext("2d"), img = ctx.createImageData(w, h);
    for (let i = 0; i < h * w; i++) img.data.set([...colour(values[offset + i], max), 255], 4 * i);
    ctx.putImageData(img, 0, 0);
    return c;
  }

  // ---------------------------------------------------------------------
  // The loss curve: the whole run's range on the axes, drawn up to step k.
  // ---------------------------------------------------------------------
  const lossCanvas = document.getElementById("loss");
  const losses = record.losses.map((x) => (typeof x === "string" ? NaN : x));
  const finiteLosses = losses.filter(Number.isFinite);
  const lossLo = Math.min(...finiteLosses), lossHi = Math.max(...finiteLosses);
  // A loss that falls by orders of magnitude (a filter learned exactly) reads better on a log scale.
  const logBox = document.getElementById("log-scale");
  logBox.disabled = !(lossLo > 0);
  logBox.checked = lossLo > 0 && lossHi / lossLo > 100;
  logBox.addEventListener("change", () => drawLoss(current));
  function drawLoss(k) {
    const ctx = lossCanvas.getContext("2d");
    const W = lossCanvas.width, H = lossCanvas.height, left = 52, right = 10, top = 10, bottom = 26;
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = "#222"; ctx.font = "11px sans-serif";
    const scale = logBox.checked ? Math.log10 : (v) => v;
    const lo = scale(lossLo), span = scale(lossHi) - lo || 1;
    const x = (i) => left + (N > 1 ? i / (N - 1) : 0.5) * (W - left - right);
    const y = (v) => top + (1 - (scale(v) - lo) / span) * (H - top - bottom);
    ctx.strokeStyle = "#999"; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(left, top); ctx.lineTo(left, H - bottom); ctx.lineTo(W - right, H - bottom); ctx.stroke();
    ctx.textAlign = "right";
    ctx.fillText(fmt(lossHi, 3), left - 4, top + 8);
    ctx.fillText(fmt(lossLo, 3), left - 4, H - bottom);
    ctx.textAlign = "center";
    ctx.fillText("step 0", x(0) + 14, H - 8);
    ctx.fillText("step " + (N - 1), x(N - 1) - 20, H - 8);
    ctx.strokeStyle = "#c2410c"; ctx.lineWidth = 2;
    ctx.beginPath();
    for (let i = 0; i <= k; i++) {
      if (i === 0 || !Number.isFinite(losses[i - 1])) ctx.moveTo(x(i), y(losses[i]));
      else ctx.lineTo(x(i), y(losses[i]));
    }
    ctx.stroke();
    ctx.fillStyle = "#c2410c";
    ctx.beginPath(); ctx.arc(x(k), y(losses[k]), 4, 0, 2 * Math.PI); ctx.fill();
    const lr = record.lrs[k];
    document.getElementById("loss-text").textContent =
      `step ${k}: loss ${fmt(record.losses[k], 6)} on batch ${k}, learning rate ${fmt(lr)}`;
  }

  // ---------------------------------------------------------------------
  // The table of every parameter: norms of W, dW and the update.
  // ---------------------------------------------------------------------
  function drawTable(k) {
    const table = document.getElementById("param-table");
    table.replaceChildren();
    const head = el("tr");
    for (const h of ["parameter", "shape", "\u2016W\u2016", "\u2016dW\u2016", "\u2016update\u2016", "embedded"]) head.append(el("th", h));
    table.append(head);
    for (const p of params) {
      const row = el("tr");
      const [w, g, u] = p.norms[k];
      const how = p.exact ? "exactly" : p.values ? "8-bit heatmaps" : "norms only";
      for (const text of [p.name, "(" + p.shape.join(", ") + ")", fmt(w), fmt(g), fmt(u), how]) row.append(el("td", text));
      table.append(row);
    }
  }

  // ---------------------------------------------------------------------
  // Feature maps of the first convolution on the fixed image.
  // ---------------------------------------------------------------------
  function drawFeatures(k) {
    const box = document.getElementById("features");
    box.replaceChildren();
    const maps = decode(record.features[k]);
    const [C, H, W] = record.featureShape;
    const zoom = Math.max(1, Math.min(8, Math.floor(96 / Math.max(H, W))));
    const row = el("div", undefined, "maps");
    const image = decode(record.image);
    const [ic, ih, iw] = record.image.shape;
    const imageBox = el("div");
    imageBox.append(el("div", "the image", "hint"));
    const imax = absMax(image.values);
    for (let c = 0; c < ic; c++) imageBox.append(mapCanvas(image.values, c * ih * iw, ih, iw, imax, valueColour, zoom));
    row.append(imageBox);
    const max = absMax(maps.values);
    for (let c = 0; c < C; c++) {
      const cell = el("div");
      cell.append(el("div", "filter " + c, "hint"));
      const canvas = mapCanvas(maps.values, c * H * W, H, W, max, valueColour, zoom);
      canvas.title = `${record.featureLayer} output, filter ${c}`;
      cell.append(canvas);
      row.append(cell);
    }
    box.append(row, scaleBar(max, valueColour, maps.approx ? "this step's scale (8-bit)" : "this step's scale"));
  }

  // ---------------------------------------------------------------------
  // The filters of one convolution: W, dW, the update and W after as mosaics.
  // ---------------------------------------------------------------------
  const layerSelect = document.getElementById("layer");
  const convs = params.filter((p) => p.conv);
  for (const p of convs) {
    const option = el("option", p.name + (p.values ? "" : " (too large: norms only)"));
    option.value = p.name;
    option.disabled = !p.values;
    layerSelect.append(option);
  }
  let layer = (convs.find((p) => p.values) || {}).name || null;
  if (layer) layerSelect.value = layer;
  layerSelect.addEventListener("change", () => { layer = layerSelect.value; show(current); });
  // The value scale is that of the whole run, so a filter can be watched as it forms.
  const runScale = {};
  function valueScale(p) {
    if (!(p.name in runScale)) {
      let m = 0;
      for (const entry of p.values) m = Math.max(m, entry.type === "q8" ? entry.scale : absMax(decode(entry).values));
      runScale[p.name] = m;
    }
    return runScale[p.name];
  }

  // Layout of a (O, C, kh, kw) weight: filter o is a row of its C kernels, rows wrap into columns.
  function mosaicLayout(shape) {
    const [O, C, kh, kw] = shape;
    const cell = Math.max(3, Math.min(40, Math.floor(Math.sqrt(90000 / size(shape)))));
    const gap = 2; // between the kernels of one filter; filters are 6 (side by side) or 4 (rows) pixels apart
    const blockW = C * (kw * cell + gap) + 6, blockH = kh * cell + gap + 4;
    const perRow = Math.max(1, Math.min(O, Math.floor(300 / blockW)));
    const rows = Math.ceil(O / perRow);
    return { O, C, kh, kw, cell, gap, blockW, blockH, perRow, width: perRow * blockW, height: rows * blockH };
  }
  function drawMosaic(values, L, max, colour) {
    const canvas = el("canvas");
    canvas.width = L.width; canvas.height = L.height;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(L.width, L.height);
    img.data.fill(255); // white between filters
    for (let o = 0; o < L.O; o++) {
      const bx = (o % L.perRow) * L.blockW, by = Math.floor(o / L.perRow) * L.blockH;
      for (let y = by; y < by + L.kh * L.cell + L.gap; y++) { // a grey frame around the filter's kernels
        for (let x = bx; x < bx + L.C * (L.kw * L.cell + L.gap); x++) img.data.set([190, 190, 190, 255], 4 * (y * L.width + x));
      }
      for (let c = 0; c < L.C; c++) {
        for (let i = 0; i < L.kh; i++) {
          for (let j = 0; j < L.kw; j++) {
            const v = values[((o * L.C + c) * L.kh + i) * L.kw + j];
            const rgb = colour(v, max);
            const x0 = bx + 1 + c * (L.kw * L.cell + L.gap) + j * L.cell, y0 = by + 1 + i * L.cell;
            for (let dy = 0; dy < L.cell; dy++) {
              for (let dx = 0; dx < L.cell; dx++) img.data.set([...rgb, 255], 4 * ((y0 + dy) * L.width + x0 + dx));
            }
          }
        }
      }
    }
    ctx.putImageData(img, 0, 0);
    return canvas;
  }
  // The weight index under a point of a mosaic, or null (in a gap).
  function indexAt(L, x, y) {
    const o = Math.floor(y / L.blockH) * L.perRow + Math.floor(x / L.blockW);
    const inX = (x % L.blockW) - 1, inY = (y % L.blockH) - 1;
    if (inX < 0 || inY < 0) return null;
    const c = Math.floor(inX / (L.kw * L.cell + L.gap));
    const j = Math.floor((inX % (L.kw * L.cell + L.gap)) / L.cell), i = Math.floor(inY / L.cell);
    if (o >= L.O || c >= L.C || i >= L.kh || j >= L.kw || Math.floor(x / L.blockW) >= L.perRow) return null;
    return [o, c, i, j];
  }
  function numbersTable(values, shape) { // the numbers of a small weight, one table row per kernel row
    const [O, C, kh, kw] = shape;
    const table = el("table", undefined, "values");
    for (let o = 0; o < O; o++) {
      for (let i = 0; i < kh; i++) {
        const row = el("tr", undefined, i === 0 && o > 0 ? "next-filter" : undefined);
        for (let c = 0; c < C; c++) {
          for (let j = 0; j < kw; j++) row.append(el("td", fmt(values[((o * C + c) * kh + i) * kw + j], 3)));
        }
        table.append(row);
      }
    }
    return table;
  }
  function drawFilters(k) {
    const box = document.getElementById("mosaics");
    box.replaceChildren();
    const help = document.getElementById("filter-help");
    if (layer === null) {
      help.textContent = convs.length ? "The convolution weights are too large to embed; see their norms in the table."
        : "This model has no convolution; the table shows its parameters.";
      return;
    }
    const p = byName[layer];
    const shape = p.shape;
    const L = mosaicLayout(shape);
    const w = valueAt(p, k), g = gradAt(p, k), u = updateAt(p, k), after = valueAt(p, k + 1);
    const vmax = valueScale(p);
    help.textContent = `${layer}: ${shape[0]} filter(s) of ${shape[1]} input channel(s), ${shape[2]}x${shape[3]} each` +
      (p.exact ? " (exact values)" : " (8-bit heatmaps: numbers approximate)");
    const updateName = record.plainSgd ? "update \u2212lr\u00b7dW" : "update (W after \u2212 W)";
    const panels = [
      ["W (used at this step)", w, vmax, valueColour, "scale of the whole run"],
      ["dW (its gradient)", g, g ? absMax(g.values) : 0, gradColour, "this step's scale"],
      [updateName, u, absMax(u.values), gradColour, "this step's scale"],
      ["W after the update", after, vmax, valueColour, "scale of the whole run"],
    ];
    for (const [title, array, max, colour, note] of panels) {
      const panel = el("div", undefined, "mosaic");
      panel.append(el("h3", title));
      if (array === null) {
        panel.append(el("p", "no gradient (the parameter was not used)", "hint"));
        box.append(panel);
        continue;
      }
      const canvas = drawMosaic(array.values, L, max, colour);
      canvas.addEventListener("mousemove", (event) => hover(p, k, L, event));
      panel.append(canvas, scaleBar(max, colour, note));
      if (size(shape) <= 27 && !array.approx) panel.append(numbersTable(array.values, shape));
      box.append(panel);
    }
    if (!record.plainSgd) {
      box.append(el("p", `With ${record.optimizer} the update is not \u2212lr\u00b7dW: the optimizer's own rule ` +
        "(momentum, Adam's running averages, weight decay) makes it; it is shown as W after \u2212 W.", "hint"));
    }
  }
  function hover(p, k, L, event) {
    const rect = event.target.getBoundingClientRect();
    const x = Math.floor((event.clientX - rect.left) * L.width / rect.width);
    const y = Math.floor((event.clientY - rect.top) * L.height / rect.height);
    const index = indexAt(L, x, y);
    if (index === null) return;
    const [o, c, i, j] = index;
    const flat = ((o * L.C + c) * L.kh + i) * L.kw + j;
    const w = valueAt(p, k), g = gradAt(p, k), u = updateAt(p, k), after = valueAt(p, k + 1);
    const approx = w.approx ? "\u2248" : "=";
    document.getElementById("hover").textContent =
      `${p.name}[${o}, ${c}, ${i}, ${j}] (filter ${o}, input channel ${c}, row ${i}, column ${j}):\n` +
      `W ${approx} ${fmt(w.values[flat], 6)}   dW ${approx} ${g ? fmt(g.values[flat], 6) : "none"}   ` +
      `update ${approx} ${fmt(u.values[flat], 6)}   W after ${approx} ${fmt(after.values[flat], 6)}`;
  }

  // ---------------------------------------------------------------------
  // Steps, controls, the contract
  // ---------------------------------------------------------------------
  const slider = document.getElementById("slider");
  slider.max = N - 1;
  let current = 0;
  function show(k) {
    current = k;
    slider.value = k;
    document.getElementById("counter").textContent = `step ${k} of 0\u2013${N - 1}`;
    drawLoss(k);
    drawTable(k);
    if (record.featureLayer !== null) drawFeatures(k);
    drawFilters(k);
  }
  if (record.featureLayer === null) document.getElementById("features-panel").hidden = true;
  else document.getElementById("feature-layer").textContent = record.featureLayer;

  function go(k) {
    if (!Number.isInteger(k) || k < 0 || k >= N) {
      throw new RangeError(`trainer.go: k must be an integer step from 0 to ${N - 1}, got ${k}`);
    }
    show(k);
  }
  let timer = null;
  const playButton = document.getElementById("play");
  function stop() { clearInterval(timer); timer = null; playButton.textContent = "\u25B6 play"; }
  function play() {
    if (current >= N - 1) show(0);
    playButton.textContent = "\u23F8 pause";
    timer = setInterval(() => { if (current >= N - 1) stop(); else show(current + 1); },
      Number(document.getElementById("speed").value));
  }
  playButton.addEventListener("click", () => (timer ? stop() : play()));
  document.getElementById("speed").addEventListener("change", () => { if (timer) { stop(); play(); } });
  document.getElementById("first").addEventListener("click", () => show(0));
  document.getElementById("last").addEventListener("click", () => show(N - 1));
  document.getElementById("prev").addEventListener("click", () => show(Math.max(0, current - 1)));
  document.getElementById("next").addEventListener("click", () => show(Math.min(N - 1, current + 1)));
  slider.addEventListener("input", () => show(Number(slider.value)));
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "SELECT" || event.target.tagName === "INPUT") return;
    const keys = {
      ArrowLeft: () => show(Math.max(0, current - 1)), ArrowRight: () => show(Math.min(N - 1, current + 1)),
      Home: () => show(0), End: () => show(N - 1), " ": () => (timer ? stop() : play()),
    };
    if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
  });

  // Parameters embedded exactly, as nested lists; the others as null.
  function paramsAt(k, withGrad) {
    const out = {};
    for (const p of params) {
      const value = p.exact ? nested(valueAt(p, k).values, p.shape) : null;
      if (!withGrad) { out[p.name] = { value }; continue; }
      const g = p.exact ? gradAt(p, k) : null;
      out[p.name] = { value, grad: g ? nested(g.values, p.shape) : null };
    }
    return out;
  }
  window.trainer = {
    steps: N,
    go,
    // The step shown: the loss of batch k, each parameter's value used in that
    // forward pass and the gradient it produced.
    state: () => ({ step: current, loss: losses[current], params: paramsAt(current, true) }),
    // The parameters after the last recorded update.
    final: () => ({ params: paramsAt(N, false) }),
  };
  show(0);
})();
