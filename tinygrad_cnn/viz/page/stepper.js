// The step-through page of a recorded backward pass.
//
// The page holds three things: the drawing (SVG laid out by Graphviz), the
// recorded pass (JSON in <script id="tape">) and this script. The script
// computes no gradient: every number it shows was recorded from the engine.
// Its only arithmetic is the SGD preview W - lr * dW, a few statistics, and
// the terms of a clicked cell's sum (explain.js), computed from the recorded
// arrays and shown beside the recorded value they add up to.
//
// Steps: step 0 shows the given tensors (inputs, parameters); then one step
// per op result in the order the forward pass could compute them; then one
// step per node in the order backward visited them.
"use strict";
(function () {
  const tape = JSON.parse(document.getElementById("tape").textContent);
  const nodes = tape.nodes; // node id ("v3") -> name, shape, value, op, ...
  const P = tape.precision;
  const F = tape.forward.length; // forward steps
  const STEPS = F + tape.backward.length;

  // ---------------------------------------------------------------------
  // Arrays: decoded from base64 once, when first needed.
  // ---------------------------------------------------------------------
  const decoded = new Map();
  function bytesToNumbers(type, b64) {
    const raw = atob(b64);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return type === "f4" ? new Float32Array(bytes.buffer) : new Float64Array(bytes.buffer);
  }
  // An array of the tape: {shape, dtype, values (all of them, or null), stats, hist, preview}.
  function arr(index) {
    if (index === null || index === undefined) return null;
    if (!decoded.has(index)) {
      const e = tape.arrays[index];
      const a = { shape: e.shape, dtype: e.dtype, stats: e.stats || null, hist: e.hist || null };
      a.size = e.shape.reduce((n, d) => n * d, 1);
      a.values = e.b64 !== undefined ? bytesToNumbers(e.type, e.b64) : null;
      a.preview = e.preview ? { shape: e.preview.shape, values: bytesToNumbers(e.preview.type, e.preview.b64) } : null;
      if (a.values && !a.stats) a.stats = statsOf(a.values);
      decoded.set(index, a);
    }
    return decoded.get(index);
  }
  function statsOf(values) {
    let sum = 0, sq = 0, lo = Infinity, hi = -Infinity;
    for (const v of values) { sum += v; sq += v * v; lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const mean = sum / values.length;
    return { mean, std: Math.sqrt(Math.max(sq / values.length - mean * mean, 0)), min: lo, max: hi, norm: Math.sqrt(sq) };
  }
  function absMax(a) {
    if (!a || !a.stats) return 0;
    return Math.max(Math.abs(a.stats.min), Math.abs(a.stats.max));
  }
  // The values as nested lists, like numpy's tolist().
  function nested(values, shape, offset = 0) {
    if (shape.length === 0) return values[offset];
    const inner = shape.slice(1).reduce((n, d) => n * d, 1);
    const out = [];
    for (let i = 0; i < shape[0]; i++) out.push(nested(values, shape.slice(1), offset + i * inner));
    return out;
  }

  // ---------------------------------------------------------------------
  // Numbers and names as text
  // ---------------------------------------------------------------------
  function fmt(x) {
    if (typeof x === "string") return x; // "nan", "inf"
    if (x === 0) return "0";
    return String(parseFloat(x.toPrecision(P)));
  }
  function fmtArray(a, limit = 4) {
    if (a.shape.length === 0) return fmt(a.values[0]);
    if (a.values && a.size <= limit) return "[" + Array.from(a.values, fmt).join(", ") + "]";
    return "shape (" + a.shape.join(", ") + ")";
  }
  function shapeText(shape) { return "(" + shape.join(", ") + (shape.length === 1 ? ",)" : ")"); }
  function label(id) { return nodes[id].label; }
  // ∂(root)/∂(node), as in ∂f/∂x; a name of several words in parentheses.
  function wrap(name) { return name.includes(" ") ? "(" + name + ")" : name; }
  function d(id) { return "\u2202" + tape.rootName + "/\u2202" + wrap(label(id)); }
  function small(a) { return a.values !== null && a.size <= 4; }
  // An array whose every number the panel shows in a grid below the text:
  // the text then names its shape instead of summarising it.
  function inGrid(a) { return a.values !== null && a.size <= 100; }
  function shapeOrStats(a) {
    return "shape " + shapeText(a.shape) + (inGrid(a) ? " (every number below)" : ", " + statsText(a));
  }
  function statsText(a) {
    const s = a.stats;
    // (\u2016\u00b7\u2016 is the norm sign, the square root of the sum of squares.)
    return `mean ${fmt(s.mean)}  std ${fmt(s.std)}  min ${fmt(s.min)}  max ${fmt(s.max)}  \u2016\u00b7\u2016 ${fmt(s.norm)}`;
  }

  // ---------------------------------------------------------------------
  // The state at step k, computed from the start each time (so stepping
  // back undoes everything by construction).
  // ---------------------------------------------------------------------
  function stateAt(k) {
    const computed = new Set();
    for (let i = 0; i <= Math.min(k, F - 1); i++) tape.forward[i].forEach((id) => computed.add(id));
    const grads = {}; // node id -> array index of its gradient so far
    const received = {}; // node id -> contributions received so far
    for (let j = 0; j <= k - F; j++) {
      const step = tape.backward[j];
      grads[step.node] = step.grad;
      for (const c of step.contributions) { grads[c.to] = c.after; received[c.to] = c.k; }
    }
    const phase = k < F ? "forward" : "backward";
    let current = null;
    if (phase === "forward" && k > 0) current = tape.forward[k][0];
    if (phase === "backward") current = tape.backward[k - F].node;
    return { k, phase, current, computed, grads, received };
  }

  // ---------------------------------------------------------------------
  // The drawing: marks added once, classes changed at every step.
  // ---------------------------------------------------------------------
  const SVG_NS = "http://www.w3.org/2000/svg";
  const views = { expanded: document.getElementById("svg-expanded"), collapsed: document.getElementById("svg-collapsed") };
  const hasCollapsed = views.collapsed.querySelector("svg") !== null;
  let view = tape.collapsed ? "collapsed" : "expanded";

  function svgText(parent, x, y, cls, anchor = "start") {
    const t = document.createElementNS(SVG_NS, "text");
    t.setAttribute("x", x); t.setAttribute("y", y); t.setAttribute("class", cls);
    t.setAttribute("text-anchor", anchor);
    parent.appendChild(t);
    return t;
  }
  // Under each value node: its value and gradient; at its corner: the VJP check.
  const marks = {}; // element id -> {value, grad} text elements
  function addMarks(prefix) {
    for (const id of Object.keys(nodes)) {
      const g = document.getElementById(prefix + id);
      if (!g) continue;
      const box = g.getBBox();
      marks[prefix + id] = {
        value: svgText(g, box.x + 2, box.y + box.height + 10, "value-mark"),
        grad: svgText(g, box.x + 2, box.y + box.height + 24, "grad-mark"),
      };
      const check = nodes[id].check;
      if (check && check.status !== "skip") {
        const sign = { pass: "\u2713", fail: "\u2717", kink: "~" }[check.status];
        const t = svgText(g, box.x + box.width - 2, box.y - 2, "check-mark check-" + check.status, "end");
        t.textContent = sign;
        g.classList.add("check-" + check.status);
      }
      const title = g.querySelector("title"); // Graphviz's tooltip says "v3": say the name instead
      if (title) title.textContent = label(id);
    }
  }
  // Room for the marks: the drawing grows by a margin above and below.
  function addMargin(svg) {
    const [x, y, w, h] = svg.getAttribute("viewBox").split(/\s+/).map(Number);
    svg.setAttribute("viewBox", [x, y - 16, w, h + 46].join(" "));
    svg.dataset.width = w; // in points, before any zoom
    svg.dataset.height = h + 46;
  }
  // Zoom: "fit" makes the drawing as wide as its pane (between half and twice its size).
  let zoom = null;
  function setZoom(factor) {
    const pane = document.getElementById("drawing");
    for (const svg of pane.querySelectorAll("svg")) {
      const w = Number(svg.dataset.width), h = Number(svg.dataset.height);
      // (1pt = 4/3 px.) Fit the width, but do not blow up a long drawing beyond its own size.
      const byWidth = (pane.clientWidth - 20) / (w * 4 / 3), byHeight = Math.max(1, pane.clientHeight / (h * 4 / 3));
      const z = factor === "fit" ? Math.max(0.5, Math.min(2, byWidth, byHeight)) : factor;
      svg.setAttribute("width", w * z + "pt");
      svg.setAttribute("height", h * z + "pt");
      if (!svg.closest("[hidden]")) zoom = z;
    }
  }
  addMarks("");
  addMargin(views.expanded.querySelector("svg"));
  if (hasCollapsed) {
    views.collapsed.hidden = false; // getBBox needs the drawing shown
    addMarks("c-");
    addMargin(views.collapsed.querySelector("svg"));
    views.collapsed.hidden = true;
  }
  function elementOf(id) { // the element that shows node id in the current view
    if (view === "expanded") return document.getElementById(id);
    return document.getElementById(nodes[id].collapsedId);
  }
  const drawing = document.getElementById("drawing");
  function clearClasses() {
    for (const cls of ["pending", "current", "receiving", "flow", "forward-flow"]) {
      drawing.querySelectorAll("." + cls).forEach((el) => el.classList.remove(cls));
    }
  }

  function drawState(s) {
    clearClasses();
    const prefix = view === "expanded" ? "" : "c-";
    for (const id of Object.keys(nodes)) {
      const el = elementOf(id);
      if (!el) continue;
      if (!s.computed.has(id) && s.phase === "forward") {
        el.classList.add("pending");
        const op = view === "expanded" && nodes[id].opId ? document.getElementById(nodes[id].opId) : null;
        if (op) op.classList.add("pending"); // its op has not run yet either
      }
      const m = marks[prefix + id];
      if (!m) continue;
      const value = arr(nodes[id].value);
      m.value.textContent = s.computed.has(id) || s.phase === "backward" ? (small(value) ? "= " + fmtArray(value) : "") : "";
      const g = s.grads[id] !== undefined ? arr(s.grads[id]) : null;
      m.grad.textContent = g === null ? "" : "grad " + (small(g) ? fmtArray(g) : "\u2016\u00b7\u2016 " + fmt(g.stats.norm));
    }
    // A collapsed box is pending until the first op result inside it is computed.
    if (s.phase === "forward" && view === "collapsed") {
      for (const id of Object.keys(nodes)) {
        const el = elementOf(id);
        if (el && el.id.startsWith("c-m")) el.classList.add("pending");
      }
      for (const id of Object.keys(nodes)) {
        const el = elementOf(id);
        if (el && el.id.startsWith("c-m") && nodes[id].op && s.computed.has(id)) el.classList.remove("pending");
      }
    }
    if (s.current === null) return;
    const cur = elementOf(s.current);
    if (cur) {
      cur.classList.add("current");
      cur.scrollIntoView({ block: "nearest", inline: "nearest" });
    }
    if (s.phase === "forward") { // the op that computed it, and its wires
      const n = nodes[s.current];
      const edges = view === "expanded" ? n.edges : n.collapsedEdges;
      for (const e of edges) { const el = document.getElementById(e); if (el) el.classList.add("forward-flow"); }
      const op = view === "expanded" ? document.getElementById(n.opId) : null;
      if (op) op.classList.add("current");
      return;
    }
    const step = tape.backward[s.k - F];
    const edges = view === "expanded" ? step.edges || [] : step.collapsedEdges || [];
    for (const e of edges) { const el = document.getElementById(e); if (el) el.classList.add("flow"); }
    const op = document.getElementById(view === "expanded" ? step.op : step.collapsedOp);
    if (op) op.classList.add("current");
    for (const c of step.contributions) { const el = elementOf(c.to); if (el && el !== cur) el.classList.add("receiving"); }
  }

  // ---------------------------------------------------------------------
  // The side panel: what happens at this step, in numbers.
  // ---------------------------------------------------------------------
  const stepPanel = document.getElementById("step-panel");
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function describeStep(s) {
    stepPanel.replaceChildren();
    if (s.phase === "forward") {
      stepPanel.append(el("h3", "Forward pass"));
      if (s.k === 0) {
        const given = tape.forward[0].map(label).join(", ");
        stepPanel.append(el("p", "The given tensors (inputs and parameters): " + given + ". Press next to compute the ops."));
        return;
      }
      const id = s.current, n = nodes[id], value = arr(n.value);
      const opName = n.opLabel || n.op;
      const result = small(value) ? "= " + fmtArray(value) : "has shape " + shapeText(n.shape);
      const text = `${label(id)} = ${opName}(${n.inputs.map(label).join(", ")}) ${result}`;
      stepPanel.append(el("p", "Computed " + text));
      if (value.size > 1) stepPanel.append(grid(value, { node: id, of: "value" }, absMax(value)));
      return;
    }
    const step = tape.backward[s.k - F], id = step.node, n = nodes[id];
    const g = arr(step.grad);
    stepPanel.append(el("h3", "Backward pass: visiting " + label(id) + (n.op ? " (made by " + n.opLabel + ")" : "")));
    if (id === tape.root) {
      const seed = g.size === 1 ? `${d(id)} = ${fmtArray(g)}` : `${d(id)}: the gradient given to backward`;
      stepPanel.append(el("p", `Backward starts at the root: ${seed} (a number's derivative with respect to itself is 1: the seed).`));
    } else {
      const parts = tape.backward.slice(0, s.k - F).flatMap((b) => b.contributions.filter((c) => c.to === id));
      const from = parts.length > 1 ? " (the sum of " + parts.length + " contributions)" : "";
      const value = small(g) ? fmtArray(g) : shapeOrStats(g);
      stepPanel.append(el("p", `The gradient that arrived here is complete${from}: ${d(id)} = ${value}`));
    }
    if (g.size > 1) stepPanel.append(grid(g, { node: id, of: "grad" }, absMax(g)));
    if (!n.op) {
      stepPanel.append(el("p", label(id) + " is a leaf: backward adds this gradient to its .grad, and stops here."));
      return;
    }
    if (n.rule) {
      // One line per input that gets a gradient: the rule with the real names and settings.
      const lines = n.ruleLines.filter((line, i) => line && nodes[n.inputs[i]].kind !== "constant");
      stepPanel.append(el("p", "Rule of " + n.opLabel + " (its VJP):"), el("div", [...new Set(lines)].join("\n"), "formula rule"));
      if (n.rulePlain) stepPanel.append(el("p", "In words: " + n.rulePlain + ".", "hint"));
    }
    if (step.contributions.length === 0) stepPanel.append(el("p", "None of its inputs needs a gradient."));
    for (const c of step.contributions) {
      stepPanel.append(el("div", contributionText(id, g, c), "formula"));
    }
    if (step.contributions.length && (g.size > 1 || step.contributions.some((c) => arr(c.added).size > 1))) showArrays(step, id, g);
  }
  // The step as arrays: what the op read (its inputs' values), the upstream
  // gradient (above), and each input's part, whose cells can be explained; at a
  // node that receives several contributions, before + part = after.
  function showArrays(step, id, g) {
    const n = nodes[id];
    const used = el("div", undefined, "arrays");
    used.append(el("h3", "What the VJP reads: the values of " + n.op + "'s inputs"));
    [...new Set(n.inputs)].forEach((input) => {
      const v = arr(nodes[input].value);
      used.append(el("div", label(input) + (nodes[input].kind === "constant" ? " (no gradient)" : ""), "grid-title"));
      used.append(grid(v, { node: input, of: "value" }, absMax(v)));
    });
    stepPanel.append(used);
    for (const c of step.contributions) {
      const part = arr(c.added);
      const box = el("div", undefined, "arrays");
      box.append(el("h3", `What ${n.op} passes back to ${label(c.to)} (input ${c.position}): click a cell to see its sum`));
      box.append(grid(part, { node: c.to, of: "part", position: c.position }, absMax(part),
        (flat) => showExplanation(box, id, c.position, flat)));
      if (c.before !== null) {
        const before = arr(c.before), after = arr(c.after);
        box.append(el("h3", `${label(c.to)} is used more than once: its gradient so far + this part = its gradient now (contribution ${c.k} of ${c.n})`));
        const sum = el("div", undefined, "sum-row");
        sum.append(grid(before, { node: c.to, of: "before" }, absMax(before)), el("span", "+", "op-sign"),
          grid(part, { node: c.to, of: "part-sum" }, absMax(part)), el("span", "=", "op-sign"),
          grid(after, { node: c.to, of: "after" }, absMax(after)));
        box.append(sum);
      }
      stepPanel.append(box);
    }
  }

  function opLabelOf(id) { return nodes[id].opLabel || nodes[id].op; }
  function contributionText(id, g, c) {
    const added = arr(c.added), returned = arr(c.returned), after = arr(c.after);
    let text;
    if (small(added) && g.size === 1 && c.local !== null) {
      // The chain rule in numbers: ∂f/∂x = ∂f/∂q · ∂q/∂x. At the root's own op
      // the upstream factor is ∂f/∂f = 1, and the local derivative is the whole answer.
      const local = `\u2202${wrap(label(id))}/\u2202${wrap(label(c.to))}`;
      const upstream = id === tape.root ? `\u2202${tape.rootName}/\u2202${tape.rootName}` : d(id);
      const localName = id === tape.root ? local + " (local)" : local;
      text = `${d(c.to)} = ${upstream} \u00b7 ${localName} = ${fmt(g.values[0])} \u00b7 ${fmt(c.local)} = ${fmtArray(added)}`;
    } else if (small(added)) {
      text = d(c.to) + " = VJP of " + opLabelOf(id) + " applied to " + d(id) + " = " + fmtArray(added);
    } else {
      text = d(c.to) + ": " + shapeOrStats(added);
    }
    if (returned && returned.size !== added.size) {
      text += `\n  (the VJP returned shape ${shapeText(returned.shape)},`;
      text += ` summed over the broadcast axes to ${shapeText(added.shape)})`;
    }
    if (c.n > 1) {
      const before = arr(c.before);
      text += "\n  contribution " + c.k + " of " + c.n + " to " + label(c.to) + ": ";
      if (before === null) text += "the first, so far " + (small(after) ? fmtArray(after) : "\u2016\u00b7\u2016 " + fmt(after.stats.norm));
      else if (small(after)) text += fmtArray(before) + " + " + fmtArray(added) + " = " + fmtArray(after);
      else text += "before + this part = after, element by element in the arrays below";
    }
    return text;
  }

  // ---------------------------------------------------------------------
  // Details of one node: values, gradient, heatmaps, SGD preview, check.
  // ---------------------------------------------------------------------
  const details = document.getElementById("details");
  let selected = null;
  let lr = tape.lr;
  let sharedScale = false; // value and gradient each get a colour scale of their own

  const colour = Colours.blueWhiteRed; // blue below zero, white at zero, red above
  function heatmap(values, offset, h, w, max) {
    const c = el("canvas");
    const zoom = Math.max(1, Math.min(16, Math.floor(56 / Math.max(h, w))));
    c.width = w; c.height = h;
    c.style.width = w * zoom + "px"; c.style.height = h * zoom + "px";
    const ctx = c.getContext("2d"), img = ctx.createImageData(w, h);
    for (let i = 0; i < h * w; i++) {
      const [r, g, b] = colour(values[offset + i], max);
      img.data.set([r, g, b, 255], 4 * i);
    }
    ctx.putImageData(img, 0, 0);
    return c;
  }
  function scaleBar(max) { return Colours.scaleBar(colour, max, fmt(-max), fmt(max), "(0 is white)"); }
  function histogram(a) {
    let counts, lo, hi;
    if (a.hist) ({ counts, lo, hi } = a.hist);
    else {
      // Only finite values can be placed on the axis (the page gets no histogram of a large array without any).
      const finite = a.values ? Array.from(a.values).filter(Number.isFinite) : [];
      if (finite.length === 0) return el("div", "no histogram: the array has no finite value (all inf or nan)", "hint");
      lo = Infinity; hi = -Infinity;
      for (const v of finite) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      counts = new Array(30).fill(0);
      for (const v of finite) counts[Math.min(29, Math.floor(((v - lo) / (hi - lo || 1)) * 30))]++;
    }
    const c = el("canvas");
    c.width = 240; c.height = 60;
    const ctx = c.getContext("2d"), top = Math.max(...counts), bw = c.width / counts.length;
    ctx.fillStyle = "#6c757d";
    counts.forEach((n, i) => { const bh = (n / top) * (c.height - 2); ctx.fillRect(i * bw, c.height - bh, bw - 1, bh); });
    const box = el("div");
    box.append(c, el("div", "histogram from " + fmt(lo) + " to " + fmt(hi), "hint"));
    return box;
  }
  // 2-D maps of an array: all of a small one, or the preview of a large one.
  function mapsOf(a) {
    if (a.shape.length < 2) return null;
    if (a.values) {
      const h = a.shape[a.shape.length - 2], w = a.shape[a.shape.length - 1];
      return { values: a.values, count: a.size / (h * w), h, w, all: a.size / (h * w) }; // every map
    }
    if (a.preview) {
      const [count, h, w] = a.preview.shape;
      return { values: a.preview.values, count, h, w, all: a.size / (h * w) };
    }
    return null;
  }
  function showArray(box, a, max) {
    box.append(el("div", "shape " + shapeText(a.shape) + " " + a.dtype, "hint"));
    if (a.values && a.size <= 64) {
      const table = el("table", undefined, "values");
      const cols = a.shape.length ? a.shape[a.shape.length - 1] : 1;
      for (let r = 0; r < a.size / cols; r++) {
        const tr = el("tr");
        for (let c = 0; c < cols; c++) tr.append(el("td", fmt(a.values[r * cols + c])));
        table.append(tr);
      }
      box.append(table);
    }
    const maps = mapsOf(a);
    if (maps && a.size >= 4) {  // a 2x2 filter too: its heatmap beside its numbers
      const row = el("div", undefined, "maps");
      for (let m = 0; m < maps.count; m++) row.append(heatmap(maps.values, m * maps.h * maps.w, maps.h, maps.w, max));
      box.append(row, scaleBar(max));
      if (maps.count < maps.all) {
        box.append(el("div", `the first ${maps.count} of ${maps.all} maps of ${maps.h}x${maps.w}`, "hint"));
      }
    }
    if (a.size > 64) box.append(el("div", statsText(a), "stats"), histogram(a));
  }

  // ---------------------------------------------------------------------
  // Arrays as grids of cells: numbers and colours, every cell clickable.
  // ---------------------------------------------------------------------
  // Up to NUMBERS_UP_TO elements the cells show their numbers; up to CELLS_UP_TO
  // they are coloured cells (the number in the tooltip); larger arrays are
  // drawn as one heatmap canvas per 2-D map, every map of them.
  const NUMBERS_UP_TO = 100;
  const CELLS_UP_TO = 4096;
  // A grid: ref = {node, of} names what it shows (of: "value", "grad" for the
  // upstream gradient, "part" for what the op passed back, "before"/"after").
  // Its cells carry their flat index, so an explanation can find them.
  function grid(a, ref, max, onCell) {
    const box = el("div", undefined, "grid");
    box.dataset.node = ref.node; box.dataset.of = ref.of;
    if (ref.position !== undefined) box.dataset.position = ref.position;
    box.append(el("div", "shape " + shapeText(a.shape) + " " + a.dtype + (a.values ? "" : " (too large to embed in full)"), "hint"));
    if (!a.values) { showArray(box, a, absMax(a)); return box; }
    const shape = a.shape.length === 0 ? [1, 1] : a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
    const h = shape[shape.length - 2], w = shape[shape.length - 1];
    const lead = shape.slice(0, -2);
    const count = lead.reduce((n, d) => n * d, 1);
    const maps = el("div", undefined, "maps-grid");
    // A 4-D tensor: one row of maps per first index (an image, an out-channel), separated.
    // (A single in-channel, as in a first layer's filters (32, 1, 3, 3): all maps in one wrapped row.)
    const perRow = lead.length >= 2 && lead[lead.length - 1] > 1 ? lead[lead.length - 1] : count;
    if (a.size > CELLS_UP_TO && count > 64) { // many small maps (a conv layer's filters): one strip per row
      for (let m = 0; m < count; m += perRow) {
        const strip = el("div", undefined, "map-row");
        strip.append(el("div", "[" + Explain.unravel(m, lead).slice(0, -1).join(", ") + ", 0.." + (perRow - 1) + "]", "map-label"));
        strip.append(stripCanvas(a, m * h * w, perRow, h, w, max, onCell));
        maps.append(strip);
      }
      box.append(maps, scaleBar(max), el("div", statsText(a), "stats"));
      return box;
    }
    let row = null;
    for (let m = 0; m < count; m++) {
      if (m % perRow === 0) { row = el("div", undefined, "map-row"); maps.append(row); }
      const where = lead.length ? "[" + Explain.unravel(m, lead).join(", ") + "]" : "";
      const map = el("div", undefined, "map");
      if (where) map.append(el("div", where, "map-label"));
      map.append(a.size <= CELLS_UP_TO ? cellTable(a, m * h * w, h, w, max, onCell) : mapCanvas(a, m * h * w, h, w, max, onCell));
      row.append(map);
    }
    box.append(maps, scaleBar(max));
    if (a.size > NUMBERS_UP_TO) box.append(el("div", statsText(a), "stats"));
    return box;
  }
  function cellTable(a, offset, h, w, max, onCell) {
    const table = el("table", undefined, a.size <= NUMBERS_UP_TO ? "cells numbers" : h * w <= 64 ? "cells roomy" : "cells");
    for (let r = 0; r < h; r++) {
      const tr = el("tr");
      for (let c = 0; c < w; c++) {
        const flat = offset + r * w + c, v = a.values[flat];
        const td = el("td", a.size <= NUMBERS_UP_TO ? fmt(v) : undefined);
        td.dataset.flat = flat;
        td.title = fmt(v);
        const [R, G, B] = colour(v, a.size <= NUMBERS_UP_TO ? 1.6 * max : max); // paler behind numbers, so they stay readable
        td.style.background = `rgb(${R},${G},${B})`;
        if (onCell) td.addEventListener("click", () => onCell(flat));
        tr.append(td);
      }
      table.append(tr);
    }
    return table;
  }
  // `count` maps of h x w side by side on one canvas, a grey column between them.
  function stripCanvas(a, offset, count, h, w, max, onCell) {
    const zoom = Math.max(1, Math.min(8, Math.floor(360 / (count * (w + 1)))));
    const c = el("canvas");
    c.width = count * (w + 1) - 1; c.height = h;
    c.style.width = c.width * zoom + "px"; c.style.height = h * zoom + "px";
    const ctx = c.getContext("2d"), img = ctx.createImageData(c.width, h);
    for (let m = 0; m < count; m++) for (let r = 0; r < h; r++) for (let col = 0; col <= w; col++) {
      const x = m * (w + 1) + col;
      if (x >= c.width) continue;
      const rgb = col === w ? [150, 150, 150] : colour(a.values[offset + (m * h + r) * w + col], max);
      img.data.set([...rgb, 255], 4 * (r * c.width + x));
    }
    ctx.putImageData(img, 0, 0);
    if (onCell) {
      c.addEventListener("click", (e) => {
        const box = c.getBoundingClientRect();
        const x = Math.floor(((e.clientX - box.left) / box.width) * c.width), r = Math.floor(((e.clientY - box.top) / box.height) * h);
        const m = Math.floor(x / (w + 1)), col = x % (w + 1);
        if (col < w && m < count) onCell(offset + (m * h + Math.min(r, h - 1)) * w + col);
      });
    }
    return canvasWrap(c, offset, count, h, w, 1);
  }
  function mapCanvas(a, offset, h, w, max, onCell) {
    const c = heatmap(a.values, offset, h, w, max);
    if (onCell) {
      c.addEventListener("click", (e) => {
        const box = c.getBoundingClientRect();
        const r = Math.min(h - 1, Math.floor(((e.clientY - box.top) / box.height) * h));
        const col = Math.min(w - 1, Math.floor(((e.clientX - box.left) / box.width) * w));
        onCell(offset + r * w + col);
      });
    }
    return canvasWrap(c, offset, 1, h, w, 0);
  }
  // A heatmap canvas in a box that can hold markers over its cells (the
  // explanation's outlines): it knows which flat indices it draws, `count`
  // maps of h x w from `offset`, `gap` columns apart.
  function canvasWrap(c, offset, count, h, w, gap) {
    const wrap = el("div", undefined, "canvas-wrap");
    Object.assign(wrap.dataset, { offset, count, h, w, gap });
    wrap.append(c);
    return wrap;
  }
  // The element that stands for cell `flat` of a grid: its table cell, or a
  // marker laid over its heatmap (made when first asked for).
  function cellElement(grid, flat) {
    const td = grid.querySelector(`td[data-flat="${flat}"]`);
    if (td) return td;
    for (const wrap of grid.querySelectorAll(".canvas-wrap")) {
      const { offset, count, h, w, gap } = Object.fromEntries(Object.entries(wrap.dataset).map(([k, v]) => [k, Number(v)]));
      const local = flat - offset;
      if (local < 0 || local >= count * h * w) continue;
      const old = wrap.querySelector(`.cell-mark[data-flat="${flat}"]`);
      if (old) return old;
      const m = Math.floor(local / (h * w)), r = Math.floor((local % (h * w)) / w), col = local % w;
      const { left, top, scale } = canvasGeometry(wrap);
      const mark = el("div", undefined, "cell-mark");
      mark.dataset.flat = flat;
      Object.assign(mark.style, {
        left: left + (m * (w + gap) + col) * scale + "px",
        top: top + r * scale + "px",
        width: Math.max(scale, 3) + "px", height: Math.max(scale, 3) + "px",
      });
      wrap.append(mark);
      return mark;
    }
    return null;
  }
  // Where a wrap's canvas sits and how large its cells are drawn, read once:
  // reading the layout after each new marker would make the browser lay out
  // the panel again for every one of them.
  const geometry = new WeakMap();
  function canvasGeometry(wrap) {
    if (!geometry.has(wrap)) {
      const c = wrap.querySelector("canvas");
      geometry.set(wrap, { left: c.offsetLeft + c.clientLeft, top: c.offsetTop + c.clientTop, scale: c.clientWidth / c.width });
    }
    return geometry.get(wrap);
  }
  const LIGHTS = ["term", "term-now", "patch", "explained"];
  function unlight(classes) {
    for (const cls of classes) stepPanel.querySelectorAll("." + cls).forEach((e) => e.classList.remove(cls));
    stepPanel.querySelectorAll(".cell-mark").forEach((mark) => { if (!LIGHTS.some((c) => mark.classList.contains(c))) mark.remove(); });
  }

  // ---------------------------------------------------------------------
  // "Where does this number come from?": explain(nodeId, position, flat)
  // ---------------------------------------------------------------------
  function explain(nodeId, position, flat) {
    const step = tape.backward.find((b) => b.node === nodeId);
    if (!step || !nodes[nodeId].op) throw new Error(`explain: node ${nodeId} is not the result of an op that backward visited`);
    const c = step.contributions.find((x) => x.position === position);
    if (!c) throw new Error(`explain: ${nodes[nodeId].op} passed no gradient to its input ${position}`);
    const part = arr(c.added);
    if (!Number.isInteger(flat) || flat < 0 || flat >= part.size) {
      throw new RangeError(`explain: flatIndex ${flat} is outside the input's ${part.size} elements`);
    }
    const n = nodes[nodeId];
    const ref = (id, index) => ({ node: id, a: arr(index) });
    const ctx = {
      inputs: n.inputs.map((id) => ref(id, nodes[id].value)),
      output: ref(nodeId, n.value),
      g: ref(nodeId, step.grad),
      settings: n.settings,
      // Arrays the op was given as settings (where's condition, ...), embedded for the explainers.
      arrays: Object.fromEntries(Object.entries(n.settingArrays || {}).map(([name, i]) => [name, arr(i)])),
    };
    const result = Explain.element(n.op, ctx, position, flat);
    return { value: part.values ? part.values[flat] : null, to: c.to, ...result };
  }
  // The sum, written out, and its cells lit up in the step's grids.
  let explainTimer = null;
  function showExplanation(box, nodeId, position, flat) {
    const out = box.querySelector(".explanation") || el("div", undefined, "explanation");
    out.replaceChildren();
    box.append(out);
    clearInterval(explainTimer);
    unlight(LIGHTS);
    const e = explain(nodeId, position, flat);
    const cellOf = (node, of, flatIndex) => {
      const grid = stepPanel.querySelector(`.grid[data-node="${node}"][data-of="${of}"]`);
      return grid ? cellElement(grid, flatIndex) : null;
    };
    const here = cellOf(e.to, "part", flat);
    if (here) here.classList.add("explained");
    const name = `${d(e.to)}[${Explain.unravel(flat, nodes[e.to].shape).join(", ")}]`;
    if (e.missing) { out.append(el("p", name + ": " + e.missing, "hint")); return; }
    const cellsOfTerm = (t) => t.factors.map((f) => cellOf(f.node, f.of, Explain.ravel(f.index, nodes[f.node].shape)));
    for (const t of e.terms) for (const cell of cellsOfTerm(t)) if (cell) cell.classList.add("term");
    const sum = e.terms.reduce((s, t) => s + t.product, 0);
    out.append(el("div", `${name} = ${fmt(e.value)} is the sum of ${e.terms.length} term${e.terms.length === 1 ? "" : "s"} (Σ = ${fmt(sum)}):`, "formula"));
    const lines = e.terms.slice(0, 40).map((t) => {
      const parts = t.factors.map((f) => `${f.of === "grad" ? "g" : label(f.node)}[${f.index.join(",")}]`);
      const numbers = t.factors.map((f) => fmt(f.value));
      if (t.weight !== 1) { parts.push(fmt(t.weight)); numbers.push(fmt(t.weight)); }
      return `  ${parts.join(" · ")} = ${numbers.join(" · ")} = ${fmt(t.product)}${t.note ? "   (" + t.note + ")" : ""}`;
    });
    if (e.terms.length > 40) lines.push(`  ... and ${e.terms.length - 40} more terms`);
    out.append(el("div", lines.join("\n"), "formula terms"));
    // Step through the terms: one term's cells at a time (for a filter's
    // gradient, the input patch sliding over the image).
    const walk = el("button", "\u25B6 step through the terms");
    let t = 0;
    walk.addEventListener("click", () => {
      clearInterval(explainTimer);
      t = 0;
      explainTimer = setInterval(() => {
        unlight(["term-now", "patch"]);
        if (t >= e.terms.length) { clearInterval(explainTimer); return; }
        const term = e.terms[t++];
        for (const cell of cellsOfTerm(term)) if (cell) cell.classList.add("term-now");
        for (const index of term.patch || []) {
          const cell = cellOf(term.factors[0].node, "value", Explain.ravel(index, nodes[term.factors[0].node].shape));
          if (cell) cell.classList.add("patch");
        }
      }, playDelay());
    });
    out.append(walk);
  }

  function showDetails(id, s) {
    selected = id;
    document.querySelectorAll(".selected").forEach((e) => e.classList.remove("selected"));
    const elem = elementOf(id);
    if (elem) elem.classList.add("selected");
    const n = nodes[id];
    details.replaceChildren(el("h3", label(id) + (n.name && n.name !== label(id) ? " (" + n.name + ")" : "")));
    const about = [n.kind];
    if (n.op) about.push("made by " + n.op);
    if (n.module) about.push("in module " + n.module);
    details.append(el("div", about.join(", ") + "; shape " + shapeText(n.shape) + ", " + n.dtype, "hint"));
    if (n.check) details.append(checkText(n.check));
    const value = arr(n.value);
    const gIndex = s.grads[id];
    const grad = gIndex === undefined ? null : arr(gIndex);
    let max = absMax(value), gmax = grad ? absMax(grad) : 0;
    if (sharedScale) max = gmax = Math.max(max, gmax);
    details.append(el("h3", "value"));
    if (!s.computed.has(id) && s.phase === "forward") details.append(el("p", "not computed yet", "hint"));
    else details.append(grid(value, { node: id, of: "shown-value" }, max));
    details.append(el("h3", "gradient " + d(id)));
    if (grad === null) {
      const why = n.kind === "constant" ? "none: a constant needs no gradient" : "none yet: backward has not reached it";
      details.append(el("p", why, "hint"));
    }
    else {
      const all = countContributions(id);
      if (s.received[id] !== undefined && s.received[id] < all) {
        details.append(el("p", `so far ${s.received[id]} of ${all} contributions`, "hint"));
      }
      details.append(grid(grad, { node: id, of: "shown-grad" }, gmax));
      if (sharedScale && mapsOf(grad) && absMax(grad) < 0.25 * max) {
        details.append(el("p", "The gradient is tiny next to the values: untick the box below to give it a scale of its own.", "hint"));
      }
    }
    const scale = el("label", undefined, "hint");
    const box = el("input"); box.type = "checkbox"; box.checked = sharedScale;
    box.addEventListener("change", () => { sharedScale = box.checked; showDetails(id, current()); });
    scale.append(box, " one colour scale for value and gradient");
    details.append(scale);
    if (n.kind === "leaf" && grad !== null) details.append(sgdPreview(id, value, grad));
  }
  function countContributions(id) {
    for (const b of tape.backward) for (const c of b.contributions) if (c.to === id) return c.n;
    return 0;
  }
  function checkText(check) {
    const p = el("p");
    if (check.status === "skip") { p.textContent = "VJP check: not run (" + check.reason + ")"; return p; }
    const word = { pass: "\u2713 pass", fail: "\u2717 FAIL", kink: "~ no verdict" }[check.status];
    p.append(el("span", "VJP check: " + word, "check-" + check.status + " mark"));
    let text = `: finite differences ${fmt(check.numeric)}, VJP ${fmt(check.analytic)},`;
    text += ` error ${fmt(check.error)} (tolerance ${fmt(check.tolerance)})`;
    if (check.status === "kink") {
      text += "; the op is not differentiable at this input (a tie or a kink), so finite differences cannot judge it";
    }
    p.append(text);
    return p;
  }
  // One step of SGD, W - lr * dW, on the values shown (all of a small tensor, the preview maps of a large one).
  function sgdPreview(id, value, grad) {
    const box = el("div");
    box.append(el("h3", "after one SGD step: " + label(id) + " - lr \u00b7 " + d(id)));
    const input = el("input"); input.type = "number"; input.step = "any"; input.value = lr; input.style.width = "6em";
    const lrLabel = el("label", "lr = "); lrLabel.append(input);
    const out = el("div");
    function update() {
      lr = parseFloat(input.value) || 0;
      out.replaceChildren();
      const source = value.values ? value : value.preview ? { shape: value.preview.shape, values: value.preview.values } : null;
      const gsrc = grad.values ? grad : grad.preview ? { shape: grad.preview.shape, values: grad.preview.values } : null;
      if (!source || !gsrc) { out.append(el("p", "too large to preview", "hint")); return; }
      // In the parameter's own dtype, as numpy computes p - lr * g: for float32, each step rounded to float32.
      const round = value.dtype === "float32" ? Math.fround : (v) => v;
      const values = new Float64Array(source.values.length);
      for (let i = 0; i < values.length; i++) values[i] = round(source.values[i] - round(round(lr) * gsrc.values[i]));
      const a = { shape: source.shape, dtype: value.dtype, values, size: values.length, stats: statsOf(values), hist: null, preview: null };
      if (!value.values) out.append(el("p", "on the maps shown above only", "hint"));
      showArray(out, a, Math.max(absMax(value), absMax(a)));
    }
    input.addEventListener("input", update);
    box.append(lrLabel, out);
    update();
    return box;
  }

  // Clicking: a value node shows itself, an op its result, a collapsed box its module.
  function nodeOfElement(elemId) {
    const plain = elemId.startsWith("c-") ? elemId.slice(2) : elemId;
    if (nodes[plain]) return plain;
    return Object.keys(nodes).find((id) => nodes[id].opId === plain) || null;
  }
  drawing.addEventListener("click", (event) => {
    const g = event.target.closest("g.node, g.cluster");
    if (!g) return;
    if (g.classList.contains("cluster")) { toggleFold(g); return; }
    if (g.id.startsWith("c-m")) { showModule(g); return; }
    const id = nodeOfElement(g.id);
    if (id) showDetails(id, current());
  });
  function showModule(g) {
    const name = g.querySelector("text").textContent;
    details.replaceChildren(el("h3", "module " + name));
    const inside = Object.keys(nodes).filter((id) => nodes[id].collapsedId === g.id);
    const list = el("p", "Inside (click one): ");
    for (const id of inside) {
      const link = el("button", label(id));
      link.addEventListener("click", () => showDetails(id, current()));
      list.append(link, " ");
    }
    details.append(list);
    const open = el("button", "expand the modules");
    open.addEventListener("click", () => setView("expanded"));
    details.append(open);
  }
  // Folding a cluster of the expanded drawing: hide what lies inside its box.
  function toggleFold(cluster) {
    const box = cluster.getBBox();
    const folded = cluster.classList.toggle("folded-cluster");
    const svg = cluster.ownerSVGElement;
    svg.querySelectorAll("g.node, g.edge").forEach((g) => {
      const b = (g.querySelector("polygon, path, ellipse") || g).getBBox(); // its shape, without the marks
      const inside = b.x >= box.x && b.y >= box.y && b.x + b.width <= box.x + box.width && b.y + b.height <= box.y + box.height;
      if (inside) g.style.display = folded ? "none" : "";
    });
    let cover = cluster.querySelector(".fold");
    if (!cover) {
      cover = document.createElementNS(SVG_NS, "rect");
      cover.setAttribute("class", "fold");
      const attributes = { x: box.x, y: box.y, width: box.width, height: box.height, rx: 6 };
      Object.assign(attributes, { fill: tape.colors.module, stroke: "#6f42c1" });
      for (const [name, value] of Object.entries(attributes)) cover.setAttribute(name, value);
      cluster.insertBefore(cover, cluster.querySelector("text"));
    }
    cover.style.display = folded ? "" : "none";
  }

  // ---------------------------------------------------------------------
  // Controls
  // ---------------------------------------------------------------------
  let k = 0;
  let timer = null;
  const slider = document.getElementById("slider");
  slider.max = STEPS - 1;
  function current() { return stateAt(k); }
  function go(step) {
    k = Math.max(0, Math.min(STEPS - 1, Math.round(Number(step)) || 0));
    const s = stateAt(k);
    drawState(s);
    describeStep(s);
    if (selected !== null) showDetails(selected, s);
    slider.value = k;
    document.getElementById("counter").textContent = "step " + (k + 1) + " of " + STEPS;
    const phase = document.getElementById("phase");
    phase.textContent = s.phase === "forward" ? "forward pass" : "backward pass";
    phase.className = s.phase;
    return k;
  }
  function play() {
    const button = document.getElementById("play");
    if (timer !== null) { clearInterval(timer); timer = null; button.textContent = "\u25B6 play"; return; }
    if (k === STEPS - 1) go(0);
    button.textContent = "\u23F8 pause";
    timer = setInterval(() => { if (k >= STEPS - 1) play(); else go(k + 1); }, playDelay());
  }
  function playDelay() { return Number(document.getElementById("speed").value) || 800; }
  document.getElementById("speed").addEventListener("change", () => { if (timer !== null) { play(); play(); } });
  function setView(name) {
    if (name !== "expanded" && name !== "collapsed") throw new TypeError(`setView: the view must be "expanded" or "collapsed", got ${name}`);
    view = hasCollapsed ? name : "expanded";
    views.expanded.hidden = view !== "expanded";
    views.collapsed.hidden = view !== "collapsed";
    document.getElementById("collapse").checked = view === "collapsed";
    setZoom("fit");
    go(k);
  }
  document.getElementById("zoom-in").addEventListener("click", () => setZoom(zoom * 1.25));
  document.getElementById("zoom-out").addEventListener("click", () => setZoom(zoom / 1.25));
  document.getElementById("zoom-fit").addEventListener("click", () => setZoom("fit"));
  document.getElementById("next").addEventListener("click", () => go(k + 1));
  document.getElementById("prev").addEventListener("click", () => go(k - 1));
  document.getElementById("reset").addEventListener("click", () => go(0));
  document.getElementById("play").addEventListener("click", play);
  slider.addEventListener("input", () => go(slider.value));
  document.getElementById("collapse").addEventListener("change", (e) => setView(e.target.checked ? "collapsed" : "expanded"));
  if (!hasCollapsed) document.getElementById("collapse-label").hidden = true;
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "INPUT" && e.target.type !== "range") return;
    if (e.key === "ArrowRight") { go(k + 1); e.preventDefault(); }
    else if (e.key === "ArrowLeft") { go(k - 1); e.preventDefault(); }
    else if (e.key === "Home") go(0);
    else if (e.key === "End") go(STEPS - 1);
    else if (e.key === " ") { play(); e.preventDefault(); }
  });
  document.querySelectorAll(".swatch[data-color]").forEach((s) => { s.style.background = tape.colors[s.dataset.color]; });

  // ---------------------------------------------------------------------
  // For tests and for the curious: window.stepper
  // ---------------------------------------------------------------------
  // state().nodes[id].grad is the gradient as displayed: null before backward
  // reaches the node; nested lists for a tensor of up to tape.stateElements
  // (4096) elements; for a larger one {"summary": {mean, std, min, max, norm}}.
  // state().wires: the ids of the wires drawn as gradient wires at this step
  // (forwardWires: the forward step's), in the view shown.
  function state() {
    const s = stateAt(k);
    const out = { step: k, phase: s.phase, current: s.current, nodes: {} };
    for (const id of Object.keys(nodes)) {
      const n = nodes[id];
      let grad = null;
      if (s.grads[id] !== undefined) {
        const a = arr(s.grads[id]);
        grad = a.values && a.size <= tape.stateElements ? nested(Array.from(a.values), a.shape) : { summary: a.stats };
      }
      out.nodes[id] = { name: n.name, label: n.label, shape: n.shape, grad, check: n.check ? n.check.status : null };
    }
    // The wires drawn as gradient (orange) and forward (blue) wires in the view shown.
    const shown = views[view];
    out.view = view;
    out.wires = Array.from(shown.querySelectorAll("g.edge.flow"), (e) => e.id);
    out.forwardWires = Array.from(shown.querySelectorAll("g.edge.forward-flow"), (e) => e.id);
    return JSON.parse(JSON.stringify(out));
  }
  window.stepper = { steps: STEPS, go, next: () => go(k + 1), prev: () => go(k - 1), state, setView, explain };
  setView(view);
})();
