// "Where does this number come from?": one gradient element as the sum it is.
//
// Explain.element(op, ctx, position, flat) explains element `flat` (a flat,
// row-major index) of what op passed back to its input number `position`.
// ctx holds the recorded arrays of that backward step:
//   ctx.inputs[i] = {node, a}   input i's node id and its value (a.values, a.shape)
//   ctx.output    = {node, a}   the op's result and its value
//   ctx.g         = {node, a}   the gradient that arrived at the result (the upstream g)
//   ctx.settings  = the op's settings (stride, padding, axis, ...)
// It returns {terms: [{factors: [{node, of, index, value}], weight, product, note}]},
// where product = weight times the factors' values, and the element is the sum
// of the products; or {missing: "why not"} when it cannot explain the element.
//
// One small explainer per op kind below: each is the op's VJP written out for a
// single element, read straight off the math in docs/ops.md and docs/convolution.md.
// Nothing here is used to compute what the page shows as the gradient: that
// was recorded from the engine. A test checks that the sums agree with it.
"use strict";
const Explain = (function () {
  // --- indices ----------------------------------------------------------
  function unravel(flat, shape) {
    const index = new Array(shape.length);
    for (let d = shape.length - 1; d >= 0; d--) { index[d] = flat % shape[d]; flat = Math.floor(flat / shape[d]); }
    return index;
  }
  function ravel(index, shape) {
    let flat = 0;
    for (let d = 0; d < shape.length; d++) flat = flat * shape[d] + index[d];
    return flat;
  }
  function sizeOf(shape) { return shape.reduce((n, d) => n * d, 1); }
  // The value (of: "value") or gradient (of: "grad") of a node at an index.
  function factor(ref, of, index) {
    return { node: ref.node, of, index: index.slice(), value: ref.a.values[ravel(index, ref.a.shape)] };
  }
  function term(factors, weight = 1, note = "") {
    let product = weight;
    for (const f of factors) product *= f.value;
    return { factors, weight, product, note };
  }
  function pair(setting) { return Array.isArray(setting) ? setting : [setting, setting]; }

  // --- broadcasting: which output cells an input cell was copied to ------------
  // The output cells whose value used input cell `index` of an input of shape
  // `inShape` (broadcast to `outShape`, numpy's rules: aligned on the right,
  // axes of size 1 stretched).
  function broadcastCells(index, inShape, outShape) {
    const lead = outShape.length - inShape.length;
    const cells = [];
    for (let o = 0; o < sizeOf(outShape); o++) {
      const out = unravel(o, outShape);
      let hit = true;
      for (let d = 0; d < inShape.length && hit; d++) hit = inShape[d] === 1 || out[lead + d] === index[d];
      if (hit) cells.push(out);
    }
    return cells;
  }
  function broadcastIndex(out, inShape) { // the input cell an output cell read
    const lead = out.length - inShape.length;
    return inShape.map((n, d) => (n === 1 ? 0 : out[lead + d]));
  }

  // --- elementwise ops: dL/dx = g · (local derivative), summed where x was broadcast ---
  // local(out, ctx, position) gives {factors (besides g), weight, note} at output cell out.
  const elementwise = {
    Add: () => ({ factors: [], weight: 1, note: "∂(a + b)/∂ = 1" }),
    Sub: (out, ctx, p) => ({ factors: [], weight: p === 0 ? 1 : -1, note: p === 0 ? "∂(a − b)/∂a = 1" : "∂(a − b)/∂b = −1" }),
    Mul: (out, ctx, p) => { // ∂(a·b)/∂a = b, ∂(a·b)/∂b = a
      const other = ctx.inputs[1 - p];
      return { factors: [factor(other, "value", broadcastIndex(out, other.a.shape))], weight: 1, note: "" };
    },
    Div: (out, ctx, p) => { // ∂(a/b)/∂a = 1/b, ∂(a/b)/∂b = −a/b²
      const a = ctx.inputs[0], b = ctx.inputs[1];
      const bv = b.a.values[ravel(broadcastIndex(out, b.a.shape), b.a.shape)];
      if (p === 0) return { factors: [], weight: 1 / bv, note: "· 1/b, b = " + bv };
      return { factors: [factor(a, "value", broadcastIndex(out, a.a.shape))], weight: -1 / (bv * bv), note: "· (−1/b²), b = " + bv };
    },
    Neg: () => ({ factors: [], weight: -1, note: "∂(−x)/∂x = −1" }),
    Exp: (out, ctx) => ({ factors: [factor(ctx.output, "value", out)], weight: 1, note: "∂eˣ/∂x = eˣ, the result" }),
    Log: (out, ctx) => {
      const x = ctx.inputs[0].a.values[ravel(out, ctx.inputs[0].a.shape)];
      return { factors: [], weight: 1 / x, note: "∂ln x/∂x = 1/x, x = " + x };
    },
    Sigmoid: (out, ctx) => { // σ' = σ(1 − σ), σ the result
      const s = ctx.output.a.values[ravel(out, ctx.output.a.shape)];
      return { factors: [factor(ctx.output, "value", out)], weight: 1 - s, note: "· σ(1 − σ)" };
    },
    Tanh: (out, ctx) => {
      const t = ctx.output.a.values[ravel(out, ctx.output.a.shape)];
      return { factors: [], weight: 1 - t * t, note: "· (1 − tanh²x), tanh x = " + t };
    },
    Relu: (out, ctx) => { // the mask: the gradient passes where x > 0
      const x = ctx.inputs[0].a.values[ravel(out, ctx.inputs[0].a.shape)];
      return { factors: [], weight: x > 0 ? 1 : 0, note: x > 0 ? `x = ${x} > 0: passes` : `x = ${x} ≤ 0: blocked` };
    },
    BroadcastTo: () => ({ factors: [], weight: 1, note: "copied by the broadcast" }),
    Abs: (out, ctx) => { // ∂|x|/∂x = sign(x) (0 at 0)
      const x = ctx.inputs[0].a.values[ravel(out, ctx.inputs[0].a.shape)];
      return { factors: [], weight: Math.sign(x), note: "sign(x), x = " + x };
    },
    LeakyRelu: (out, ctx) => { // slope 1 where x > 0, negative_slope elsewhere
      const x = ctx.inputs[0].a.values[ravel(out, ctx.inputs[0].a.shape)];
      return { factors: [], weight: x > 0 ? 1 : ctx.settings.negative_slope, note: x > 0 ? `x = ${x} > 0` : `x = ${x} ≤ 0: the slope` };
    },
    Softplus: (out, ctx) => { // ∂ ln(1 + eˣ)/∂x = σ(x)
      const x = ctx.inputs[0].a.values[ravel(out, ctx.inputs[0].a.shape)];
      return { factors: [], weight: 1 / (1 + Math.exp(-x)), note: "σ(x), x = " + x };
    },
    Clip: (out, ctx) => { // the gradient passes inside the bounds
      const x = ctx.inputs[0].a.values[ravel(out, ctx.inputs[0].a.shape)];
      const { lo, hi } = ctx.settings;
      const inside = (lo === null || lo === undefined || x >= lo) && (hi === null || hi === undefined || x <= hi);
      return { factors: [], weight: inside ? 1 : 0, note: inside ? `x = ${x} inside the bounds` : `x = ${x} clipped` };
    },
  };
  function explainElementwise(op, ctx, p, index) {
    const inShape = ctx.inputs[p].a.shape;
    return broadcastCells(index, inShape, ctx.g.a.shape).map((out) => {
      const local = elementwise[op](out, ctx, p);
      return term([factor(ctx.g, "grad", out), ...local.factors], local.weight, local.note);
    });
  }

  // --- reductions and reshapes ------------------------------------------------
  function explainSum(ctx, index) { // each input cell was added once into the output cell it was summed into
    const axes = ctx.settings.axis, keep = ctx.settings.keepdims;
    const n = index.length;
    const summed = axes === null || axes === undefined ? [...Array(n).keys()] : [].concat(axes).map((a) => (a + n) % n);
    const out = [];
    index.forEach((i, d) => {
      if (!summed.includes(d)) out.push(i);
      else if (keep) out.push(0);
    });
    return [term([factor(ctx.g, "grad", out)], 1, "summed into this cell")];
  }
  function explainPermute(ctx, index) { // input axis axes[d] became output axis d
    const axes = ctx.settings.axes;
    const out = axes.map((a) => index[a]);
    return [term([factor(ctx.g, "grad", out)], 1, "the same element, its axes reordered")];
  }
  function explainReshape(ctx, index) { // the same flat position, read in the other shape
    const flat = ravel(index, ctx.inputs[0].a.shape);
    return [term([factor(ctx.g, "grad", unravel(flat, ctx.g.a.shape))], 1, "the same element, reshaped")];
  }

  // --- matrix products ------------------------------------------------------
  // Linear: y[r, o] = Σ_i x[r, i] W[o, i] + b[o], rows r = the leading axes of x merged.
  function explainLinear(ctx, p, index) {
    const x = ctx.inputs[0], w = ctx.inputs[1], g = ctx.g;
    const [outF, inF] = w.a.shape;
    const rows = sizeOf(x.a.shape) / inF;
    const xAt = (r, i) => unravel(r * inF + i, x.a.shape);
    const gAt = (r, o) => unravel(r * outF + o, g.a.shape);
    const terms = [];
    if (p === 0) { // dx[r, i] = Σ_o g[r, o] · W[o, i]
      const flat = ravel(index, x.a.shape), r = Math.floor(flat / inF), i = flat % inF;
      for (let o = 0; o < outF; o++) terms.push(term([factor(g, "grad", gAt(r, o)), factor(w, "value", [o, i])]));
    } else if (p === 1) { // dW[o, i] = Σ_r g[r, o] · x[r, i]
      const [o, i] = index;
      for (let r = 0; r < rows; r++) terms.push(term([factor(g, "grad", gAt(r, o)), factor(x, "value", xAt(r, i))]));
    } else { // db[o] = Σ_r g[r, o]
      for (let r = 0; r < rows; r++) terms.push(term([factor(g, "grad", gAt(r, index[0]))]));
    }
    return terms;
  }
  // MatMul of two matrices: C = A B, C[i, j] = Σ_k A[i, k] B[k, j].
  function explainMatMul(ctx, p, index) {
    const A = ctx.inputs[0], B = ctx.inputs[1], g = ctx.g;
    if (A.a.shape.length !== 2 || B.a.shape.length !== 2) return null;
    const rows = A.a.shape[0], cols = B.a.shape[1];
    const terms = [];
    if (p === 0) { // dA[i, k] = Σ_j g[i, j] · B[k, j]
      const [i, k] = index;
      for (let j = 0; j < cols; j++) terms.push(term([factor(g, "grad", [i, j]), factor(B, "value", [k, j])]));
    } else { // dB[k, j] = Σ_i A[i, k] · g[i, j]
      const [k, j] = index;
      for (let i = 0; i < rows; i++) terms.push(term([factor(A, "value", [i, k]), factor(g, "grad", [i, j])]));
    }
    return terms;
  }

  // --- convolution ------------------------------------------------------------
  // y[n, o, a, b] = Σ_{c, i, j} x_pad[n, c', a·s + i·d, b·s + j·d] · W[o, c, i, j] (+ bias[o]),
  // with c' = the input channel c of o's group. Terms whose input cell lies in the padding are zero: left out.
  function explainConv(ctx, p, index) {
    const x = ctx.inputs[0], w = ctx.inputs[1], g = ctx.g;
    const [, C, H, W] = x.a.shape, [O, Cg, KH, KW] = w.a.shape, [N, , P, Q] = g.a.shape;
    const [sh, sw] = pair(ctx.settings.stride), [ph, pw] = pair(ctx.settings.padding), [dh, dw] = pair(ctx.settings.dilation);
    const groups = ctx.settings.groups || 1, Og = O / groups;
    const terms = [];
    if (p === 1) { // dW[o, c, i, j] = Σ_{n, a, b} x_pad[n, c', a·s + i·d, b·s + j·d] · g[n, o, a, b]
      const [o, c, i, j] = index;
      const cx = Math.floor(o / Og) * Cg + c;
      for (let n = 0; n < N; n++) for (let a = 0; a < P; a++) for (let b = 0; b < Q; b++) {
        const h = a * sh + i * dh - ph, v = b * sw + j * dw - pw;
        if (h < 0 || h >= H || v < 0 || v >= W) continue; // in the padding: the term is 0
        const t = term([factor(x, "value", [n, cx, h, v]), factor(g, "grad", [n, o, a, b])], 1, `window at (${a}, ${b})`);
        t.patch = []; // the input cells under the whole filter at this window: the patch that slides
        for (let ii = 0; ii < KH; ii++) for (let jj = 0; jj < KW; jj++) {
          const hh = a * sh + ii * dh - ph, vv = b * sw + jj * dw - pw;
          if (hh >= 0 && hh < H && vv >= 0 && vv < W) t.patch.push([n, cx, hh, vv]);
        }
        terms.push(t);
      }
    } else if (p === 0) { // dx[n, c, h, v] = Σ W[o, c - group start, i, j] · g[n, o, a, b] over a·s + i·d = h + p
      const [n, c, h, v] = index;
      const group = Math.floor(c / Cg), cl = c - group * Cg;
      for (let o = group * Og; o < (group + 1) * Og; o++) for (let i = 0; i < KH; i++) for (let j = 0; j < KW; j++) {
        const ra = h + ph - i * dh, rb = v + pw - j * dw;
        if (ra < 0 || rb < 0 || ra % sh !== 0 || rb % sw !== 0) continue;
        const a = ra / sh, b = rb / sw;
        if (a >= P || b >= Q) continue;
        terms.push(term([factor(w, "value", [o, cl, i, j]), factor(g, "grad", [n, o, a, b])], 1, `tap (${i}, ${j}) of the window at (${a}, ${b})`));
      }
    } else { // db[o] = Σ_{n, a, b} g[n, o, a, b]
      const o = index[0];
      for (let n = 0; n < N; n++) for (let a = 0; a < P; a++) for (let b = 0; b < Q; b++) terms.push(term([factor(g, "grad", [n, o, a, b])]));
    }
    return terms;
  }

  // --- pooling ---------------------------------------------------------------
  // The windows (a, b) of a pooling that contain input cell (h, v), and the tap (i, j) it is in each.
  function windowsOf(h, v, k, s, pd, dl, P, Q) {
    const found = [];
    for (let a = 0; a < P; a++) for (let b = 0; b < Q; b++) for (let i = 0; i < k[0]; i++) for (let j = 0; j < k[1]; j++) {
      if (a * s[0] + i * dl[0] - pd[0] === h && b * s[1] + j * dl[1] - pd[1] === v) found.push([a, b, i, j]);
    }
    return found;
  }
  // Max-pool: a window's gradient goes to its first maximum (row-major), so a cell gets
  // the upstream cells of the windows it won; overlapping windows add.
  function explainMaxPool(ctx, index) {
    const x = ctx.inputs[0], g = ctx.g, st = ctx.settings;
    const k = pair(st.kernel), s = pair(st.stride), pd = pair(st.padding), dl = pair(st.dilation || 1);
    const [n, c, h, v] = index, [, , H, W] = x.a.shape, [, , P, Q] = g.a.shape;
    const terms = [];
    for (const [a, b] of windowsOf(h, v, k, s, pd, dl, P, Q)) {
      let best = null, bestValue = -Infinity;
      for (let i = 0; i < k[0]; i++) for (let j = 0; j < k[1]; j++) {
        const hh = a * s[0] + i * dl[0] - pd[0], vv = b * s[1] + j * dl[1] - pd[1];
        if (hh < 0 || hh >= H || vv < 0 || vv >= W) continue; // padding never wins
        const value = x.a.values[ravel([n, c, hh, vv], x.a.shape)];
        if (best === null || value > bestValue) { best = [hh, vv]; bestValue = value; }
      }
      if (best && best[0] === h && best[1] === v) terms.push(term([factor(g, "grad", [n, c, a, b])], 1, `won window (${a}, ${b})`));
    }
    return terms;
  }
  // Avg-pool: every cell of a window gets g / window size (padding counted, as PyTorch's count_include_pad).
  function explainAvgPool(ctx, index) {
    const g = ctx.g, st = ctx.settings;
    const k = pair(st.kernel), s = pair(st.stride), pd = pair(st.padding);
    const [n, c, h, v] = index, [, , P, Q] = g.a.shape;
    return windowsOf(h, v, k, s, pd, [1, 1], P, Q).map(([a, b]) =>
      term([factor(g, "grad", [n, c, a, b])], 1 / (k[0] * k[1]), `1/${k[0] * k[1]} of window (${a}, ${b})`));
  }

  // --- cross-entropy: dL/dx[n, c] = g[n] · (p[n, c] · Σ_c y[n, c] − y[n, c]), p = softmax over c ---
  function explainCrossEntropy(ctx, p, index) {
    if (p !== 0) return null;
    const x = ctx.inputs[0], y = ctx.inputs[1];
    const shape = x.a.shape, C = shape[1];
    const at = (c) => { const i = index.slice(); i[1] = c; return ravel(i, shape); };
    let top = -Infinity;
    for (let c = 0; c < C; c++) top = Math.max(top, x.a.values[at(c)]);
    let total = 0, counted = 0;
    for (let c = 0; c < C; c++) { total += Math.exp(x.a.values[at(c)] - top); counted += y.a.values[at(c)]; }
    const prob = Math.exp(x.a.values[ravel(index, shape)] - top) / total;
    const target = y.a.values[ravel(index, shape)];
    const gIndex = index.filter((_, d) => d !== 1);
    return [term([factor(ctx.g, "grad", gIndex)], prob * counted - target, `p − y = ${prob} − ${target}`)];
  }

  function element(op, ctx, position, flat) {
    const needed = [...ctx.inputs, ctx.output, ctx.g];
    if (needed.some((ref) => !ref || !ref.a || !ref.a.values)) return { missing: "an array this step needs is too large to be embedded in full" };
    const index = unravel(flat, ctx.inputs[position].a.shape);
    let terms = null;
    if (op in elementwise) terms = explainElementwise(op, ctx, position, index);
    else if (op === "Sum") terms = explainSum(ctx, index);
    else if (op === "Reshape") terms = explainReshape(ctx, index);
    else if (op === "Permute") terms = explainPermute(ctx, index);
    else if (op === "Linear") terms = explainLinear(ctx, position, index);
    else if (op === "MatMul") terms = explainMatMul(ctx, position, index);
    else if (op === "Conv2d") terms = explainConv(ctx, position, index);
    else if (op === "MaxPool2d") terms = explainMaxPool(ctx, index);
    else if (op === "AvgPool2d") terms = explainAvgPool(ctx, index);
    else if (op === "CrossEntropy") terms = explainCrossEntropy(ctx, position, index);
    if (terms === null) return { missing: "the page has no cell-by-cell explanation of " + op + " for these shapes" };
    return { index, terms };
  }
  return { element, unravel, ravel };
})();
