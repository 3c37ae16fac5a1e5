// "Where does this number come from?": one gradient element as the sum it is.
//
// Explain.element(op, ctx, position, flat) explains element `flat` (a flat,
// row-major index) of what op passed back to its input number `position`.
// ctx holds the recorded arrays of that backward step:
//   ctx.inputs[i] = {node, a}   input i's node id and its value (a.values, a.shape)
//   ctx.output    = {node, a}   the op's result and its value
//   ctx.g         = {node, a}   the gradient that arrived at the result (the upstream g)
//   ctx.settings  = the op's settings (stride, padding, axis, ...)
//   ctx.arrays    = arrays the op was given as settings, embedded for the explainers:
//                   where's condition, batch norm's inv_std, and for indexing the
//                   input cell each output cell was read from ("sources")
// It returns {terms: [{factors: [{node, of, index, value}], weight, product, note}]},
// where product = weight times the factors' values, and the element is the sum
// of the products; or {missing: "why not"} when it cannot explain the element:
// an array the step needs was too large to embed in full, or the op is not one
// of the library's (a Function defined elsewhere).
//
// One small explainer per op kind below, for every op of the library: each is
// the op's VJP written out for a single element, read straight off the math in
// docs/ops.md and docs/convolution.md.
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
  // An input's value at output cell `out`, reading through its broadcast.
  function valueAt(ref, out) {
    return ref.a.values[ravel(broadcastIndex(out, ref.a.shape), ref.a.shape)];
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
    Pow: (out, ctx, p) => {
      const a = ctx.inputs[0], b = ctx.inputs[1];
      const av = valueAt(a, out), bv = valueAt(b, out);
      if (Number.isNaN(valueAt(ctx.output, out))) return { factors: [], weight: NaN, note: "aᵇ is nan here, so is its slope" };
      if (p === 0) { // ∂aᵇ/∂a = b·a^(b−1); for b = 0 the engine uses a⁰ (the slope is 0 even at a = 0)
        const power = bv === 0 ? 0 : bv - 1;
        return { factors: [factor(b, "value", broadcastIndex(out, b.a.shape))], weight: Math.pow(av, power), note: `· b·a^(b−1), a^(b−1) = ${Math.pow(av, power)}` };
      }
      // ∂aᵇ/∂b = aᵇ·ln a (the result times ln a); 0 at a = 0 for b ≥ 0, as PyTorch
      const lnA = av === 0 && bv >= 0 ? 0 : Math.log(av);
      return { factors: [factor(ctx.output, "value", out)], weight: lnA, note: `· aᵇ·ln a, ln a = ${lnA}` };
    },
    Maximum: (out, ctx, p) => { // m = [a > b] + ½[a = b]: the larger input gets g, a tie splits it
      const av = valueAt(ctx.inputs[0], out), bv = valueAt(ctx.inputs[1], out);
      const m = av > bv ? 1 : av === bv ? 0.5 : 0;
      const weight = p === 0 ? m : 1 - m;
      const note = av === bv ? "a tie: half each" : weight === 1 ? "the larger input: passes" : "the smaller input: blocked";
      return { factors: [], weight, note };
    },
    Where: (out, ctx, p) => { // a where the condition holds, b elsewhere: g goes to the one picked
      const condition = ctx.arrays.condition;
      const picked = condition.values[ravel(broadcastIndex(out, condition.shape), condition.shape)] !== 0;
      const passes = (p === 0) === picked;
      return { factors: [], weight: passes ? 1 : 0, note: `condition ${picked ? "true" : "false"}: ${passes ? "taken from here" : "taken from the other input"}` };
    },
    BinaryCrossEntropy: (out, ctx, p) => {
      const pv = valueAt(ctx.inputs[0], out), yv = valueAt(ctx.inputs[1], out);
      if (p === 0) { // ∂/∂p = (p − y) / (p(1 − p)), the denominator at least 1e-12
        const weight = (pv - yv) / Math.max(pv * (1 - pv), 1e-12);
        return { factors: [], weight, note: `(p − y)/(p(1 − p)), p = ${pv}, y = ${yv}` };
      }
      // ∂/∂y = ln(1 − p) − ln p, each log clamped at −100 as in the forward
      const weight = Math.max(Math.log(1 - pv), -100) - Math.max(Math.log(pv), -100);
      return { factors: [], weight, note: `ln(1 − p) − ln p, p = ${pv}` };
    },
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

  // The identity: Clone, Cast (the gradient cast back), DependsOn's value input.
  function explainIdentity(ctx, index, note) {
    return [term([factor(ctx.g, "grad", index)], 1, note)];
  }
  // DependsOn ties a value to inputs with derivative 0: input 0 gets g, the others 0.
  function explainDependsOn(ctx, p, index) {
    if (p === 0) return explainIdentity(ctx, index, "the value passes the gradient through");
    return []; // a sum of no terms: 0, the derivative in the tied inputs
  }
  // Max over axes: the first maximum of each slice (row-major over the reduced
  // axes, as numpy's argmax) gets the upstream gradient of its slice; the others 0.
  function explainMax(ctx, index) {
    const x = ctx.inputs[0], n = index.length;
    const axes = [].concat(ctx.settings.axis === null || ctx.settings.axis === undefined ? [...Array(n).keys()] : ctx.settings.axis).map((a) => (a + n) % n);
    const reducedShape = axes.map((a) => x.a.shape[a]);
    let first = null, best = -Infinity;
    for (let k = 0; k < sizeOf(reducedShape); k++) { // walk the slice that holds index
      const cell = index.slice();
      unravel(k, reducedShape).forEach((i, j) => { cell[axes[j]] = i; });
      const v = x.a.values[ravel(cell, x.a.shape)];
      if (first === null || v > best || (Number.isNaN(v) && !Number.isNaN(best))) { first = cell; best = v; }
      if (Number.isNaN(best)) break; // numpy's argmax stops at the first nan
    }
    const out = [];
    index.forEach((i, d) => { if (!axes.includes(d)) out.push(i); else if (ctx.settings.keepdims) out.push(0); });
    const won = ravel(first, x.a.shape) === ravel(index, x.a.shape);
    return [term([factor(ctx.g, "grad", out)], won ? 1 : 0, won ? "the first maximum of its slice" : `not the maximum (x[${first.join(", ")}] = ${best} is)`)];
  }
  // Pad: y[i + before] = x[i], so dx[i] = g[i + before]; the padding's gradient is dropped.
  function explainPad(ctx, index) {
    const out = index.map((i, d) => i + ctx.settings.pad_width[d][0]);
    return [term([factor(ctx.g, "grad", out)], 1, "the same element, shifted by the padding")];
  }
  // Concatenate: input p sits along the axis after the inputs before it.
  function explainConcatenate(ctx, p, index) {
    const n = index.length, axis = (ctx.settings.axis + n) % n;
    let offset = 0;
    for (let q = 0; q < p; q++) offset += ctx.inputs[q].a.shape[axis];
    const out = index.slice();
    out[axis] += offset;
    return [term([factor(ctx.g, "grad", out)], 1, `input ${p} starts at ${offset} along axis ${axis}`)];
  }
  // Indexing: y[o] = x[sources[o]] (sources: the flat input cell each output cell
  // read, recorded when the page was written), so dx[i] = Σ g[o] over the o with
  // sources[o] = i; a cell picked twice gets both, a cell not picked none (0).
  function explainGetItem(ctx, index) {
    const sources = ctx.arrays.sources, flat = ravel(index, ctx.inputs[0].a.shape);
    const terms = [];
    for (let o = 0; o < sources.values.length; o++) {
      if (sources.values[o] === flat) terms.push(term([factor(ctx.g, "grad", unravel(o, ctx.g.a.shape))], 1, "picked here"));
    }
    return terms;
  }
  // ScatterAdd (the VJP of indexing): out[sources[o]] += v[o], so dv[o] = g[sources[o]].
  function explainScatterAdd(ctx, index) {
    const sources = ctx.arrays.sources;
    const target = sources.values[ravel(index, sources.shape)];
    return [term([factor(ctx.g, "grad", unravel(target, ctx.g.a.shape))], 1, "added at this cell")];
  }

  // --- batch norm: x̂ = (x − mean)·inv_std per channel, mean and inv_std of the batch ---
  // dx[i] = inv_std·(g[i] − mean(g) − x̂[i]·mean(g·x̂)), the means over the M cells j
  // of i's channel, written out:
  //   inv_std·g[i]  −  Σ_j (inv_std/M)·g[j]  −  Σ_j (inv_std/M)·x̂[i]·g[j]·x̂[j]
  function explainBatchNormalize(ctx, index) {
    const x = ctx.inputs[0], xhat = ctx.output, g = ctx.g;
    const axes = ctx.settings.axes.map((a) => (a + index.length) % index.length);
    const inv = ctx.arrays.inv_std;
    const invStd = inv.values[ravel(broadcastIndex(index, inv.shape), inv.shape)];
    const reducedShape = axes.map((a) => x.a.shape[a]), M = sizeOf(reducedShape);
    const terms = [term([factor(g, "grad", index)], invStd, "inv_std·g")];
    const channel = [];
    for (let k = 0; k < M; k++) {
      const cell = index.slice();
      unravel(k, reducedShape).forEach((i, j) => { cell[axes[j]] = i; });
      channel.push(cell);
    }
    for (const j of channel) terms.push(term([factor(g, "grad", j)], -invStd / M, "−inv_std·mean(g)"));
    for (const j of channel) {
      terms.push(term([factor(xhat, "value", index), factor(g, "grad", j), factor(xhat, "value", j)], -invStd / M, "−inv_std·x̂·mean(g·x̂)"));
    }
    return terms;
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
  // MatMul: C[..., i, j] = Σ_k A[..., i, k] B[..., k, j], the leading (batch) axes
  // broadcast as numpy does. A batch cell of A (or B) used by several batch
  // cells of C gets the sum over them.
  function explainMatMul(ctx, p, index) {
    const A = ctx.inputs[0], B = ctx.inputs[1], g = ctx.g;
    const rows = A.a.shape[A.a.shape.length - 2], cols = B.a.shape[B.a.shape.length - 1];
    const batchShape = g.a.shape.slice(0, -2);
    const batchOf = (ref, b) => broadcastIndex(b, ref.a.shape.slice(0, -2)); // the batch cell of A or B that C's batch cell b read
    const mine = p === 0 ? A : B;
    const myBatch = ravel(index.slice(0, -2), mine.a.shape.slice(0, -2));
    const terms = [];
    for (let k = 0; k < sizeOf(batchShape); k++) {
      const b = unravel(k, batchShape);
      if (ravel(batchOf(mine, b), mine.a.shape.slice(0, -2)) !== myBatch) continue; // C's batch cell b did not read this element
      const note = batchShape.length ? `batch [${b.join(", ")}]` : "";
      if (p === 0) { // dA[i, k] = Σ_j g[i, j] · B[k, j]
        const [i, kk] = index.slice(-2);
        for (let j = 0; j < cols; j++) {
          terms.push(term([factor(g, "grad", [...b, i, j]), factor(B, "value", [...batchOf(B, b), kk, j])], 1, note));
        }
      } else { // dB[k, j] = Σ_i A[i, k] · g[i, j]
        const [kk, j] = index.slice(-2);
        for (let i = 0; i < rows; i++) {
          terms.push(term([factor(A, "value", [...batchOf(A, b), i, kk]), factor(g, "grad", [...b, i, j])], 1, note));
        }
      }
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

  // Transposed convolution (conv_transpose2d, and the input gradient of conv2d):
  // out[n, c, h, v] = Σ_{o, i, j} y[n, o, a, b] · W[o, c − group start, i, j] over a·s + i·d − p = h
  // (b likewise), o in c's group. Each y cell is spread over the output through the filter, so
  //   dy[n, o, a, b] = Σ_{c, i, j} g[n, c, a·s + i·d − p, b·s + j·d − p] · W[o, c, i, j]  (a convolution of g)
  //   dW[o, c, i, j] = Σ_{n, a, b} g[n, c', a·s + i·d − p, b·s + j·d − p] · y[n, o, a, b]
  // Terms whose output cell lies outside the result (cut off by the padding) are left out.
  function explainConvTranspose(ctx, p, index) {
    const y = ctx.inputs[0], w = ctx.inputs[1], g = ctx.g;
    const [N, O, P, Q] = y.a.shape, [, Cg, KH, KW] = w.a.shape, [, , H, W] = g.a.shape;
    const [sh, sw] = pair(ctx.settings.stride), [ph, pw] = pair(ctx.settings.padding), [dh, dw] = pair(ctx.settings.dilation);
    const groups = ctx.settings.groups || 1, Og = O / groups;
    const inside = (h, v) => h >= 0 && h < H && v >= 0 && v < W;
    const terms = [];
    if (p === 0) {
      const [n, o, a, b] = index;
      const start = Math.floor(o / Og) * Cg; // the first output channel of o's group
      for (let c = 0; c < Cg; c++) for (let i = 0; i < KH; i++) for (let j = 0; j < KW; j++) {
        const h = a * sh + i * dh - ph, v = b * sw + j * dw - pw;
        if (!inside(h, v)) continue;
        terms.push(term([factor(g, "grad", [n, start + c, h, v]), factor(w, "value", [o, c, i, j])], 1, `tap (${i}, ${j}) lands on (${h}, ${v})`));
      }
    } else {
      const [o, c, i, j] = index;
      const cOut = Math.floor(o / Og) * Cg + c;
      for (let n = 0; n < N; n++) for (let a = 0; a < P; a++) for (let b = 0; b < Q; b++) {
        const h = a * sh + i * dh - ph, v = b * sw + j * dw - pw;
        if (!inside(h, v)) continue;
        terms.push(term([factor(g, "grad", [n, cOut, h, v]), factor(y, "value", [n, o, a, b])], 1, `input cell (${a}, ${b})`));
      }
    }
    return terms;
  }

  // The filter gradient as an op of its own (Conv2dGradWeight, in a graph of
  // gradients recorded with create_graph=True):
  // out[o, c, i, j] = Σ_{n, a, b} x_pad[n, c', a·s + i·d, b·s + j·d] · y[n, o, a, b], c' = c in o's group. So
  //   dx[n, c', h, v] = Σ g[o, c, i, j] · y[n, o, a, b] over o in the group and a·s + i·d − p = h (b likewise)
  //   dy[n, o, a, b] = Σ_{c, i, j} x_pad[n, c', a·s + i·d, b·s + j·d] · g[o, c, i, j]
  function explainConvGradWeight(ctx, p, index) {
    const x = ctx.inputs[0], y = ctx.inputs[1], g = ctx.g;
    const [, , H, W] = x.a.shape, [, O, P, Q] = y.a.shape, [, Cg, KH, KW] = g.a.shape;
    const [sh, sw] = pair(ctx.settings.stride), [ph, pw] = pair(ctx.settings.padding), [dh, dw] = pair(ctx.settings.dilation);
    const groups = ctx.settings.groups || 1, Og = O / groups;
    const terms = [];
    if (p === 0) {
      const [n, c, h, v] = index;
      const group = Math.floor(c / Cg), cl = c - group * Cg;
      for (let o = group * Og; o < (group + 1) * Og; o++) for (let i = 0; i < KH; i++) for (let j = 0; j < KW; j++) {
        const ra = h + ph - i * dh, rb = v + pw - j * dw;
        if (ra < 0 || rb < 0 || ra % sh !== 0 || rb % sw !== 0 || ra / sh >= P || rb / sw >= Q) continue;
        terms.push(term([factor(g, "grad", [o, cl, i, j]), factor(y, "value", [n, o, ra / sh, rb / sw])], 1, `tap (${i}, ${j}) of the window at (${ra / sh}, ${rb / sw})`));
      }
    } else {
      const [n, o, a, b] = index;
      const start = Math.floor(o / Og) * Cg;
      for (let c = 0; c < Cg; c++) for (let i = 0; i < KH; i++) for (let j = 0; j < KW; j++) {
        const h = a * sh + i * dh - ph, v = b * sw + j * dw - pw;
        if (h < 0 || h >= H || v < 0 || v >= W) continue; // in the padding: the term is 0
        terms.push(term([factor(x, "value", [n, start + c, h, v]), factor(g, "grad", [o, c, i, j])], 1, `tap (${i}, ${j})`));
      }
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

  // The pooling VJPs as ops of their own (in a graph of gradients recorded with
  // create_graph=True). argmax[n, c, a, b] = i·KW + j, the tap that won window (a, b).
  function winnerOf(ctx, n, c, a, b) {
    const st = ctx.settings, argmax = ctx.arrays.argmax;
    const k = pair(st.kernel), s = pair(st.stride), pd = pair(st.padding), dl = pair(st.dilation || 1);
    const tap = argmax.values[ravel([n, c, a, b], argmax.shape)];
    const i = Math.floor(tap / k[1]), j = tap % k[1];
    return [a * s[0] + i * dl[0] - pd[0], b * s[1] + j * dl[1] - pd[1]];
  }
  // MaxPool2dBackward: out[n, c, winner of (a, b)] += v[n, c, a, b], so dv[n, c, a, b] = g at the window's winner.
  function explainMaxPoolBackward(ctx, index) {
    const [n, c, a, b] = index, [h, v] = winnerOf(ctx, n, c, a, b);
    return [term([factor(ctx.g, "grad", [n, c, h, v])], 1, `the winner of window (${a}, ${b})`)];
  }
  // MaxPool2dGather: out[n, c, a, b] = v[n, c, winner of (a, b)], so dv[n, c, h, v] = Σ g over the windows it won.
  function explainMaxPoolGather(ctx, index) {
    const [n, c, h, v] = index, [, , P, Q] = ctx.arrays.argmax.shape;
    const terms = [];
    for (let a = 0; a < P; a++) for (let b = 0; b < Q; b++) {
      const [wh, wv] = winnerOf(ctx, n, c, a, b);
      if (wh === h && wv === v) terms.push(term([factor(ctx.g, "grad", [n, c, a, b])], 1, `won window (${a}, ${b})`));
    }
    return terms;
  }
  // AvgPool2dBackward: out[cells of window (a, b)] += v[n, c, a, b] / size, so
  // dv[n, c, a, b] = Σ g[n, c, h, v] / size over the window's cells (those in the padding are not in g).
  function explainAvgPoolBackward(ctx, index) {
    const st = ctx.settings, g = ctx.g;
    const k = pair(st.kernel), s = pair(st.stride), pd = pair(st.padding);
    const [n, c, a, b] = index, [, , H, W] = g.a.shape;
    const terms = [];
    for (let i = 0; i < k[0]; i++) for (let j = 0; j < k[1]; j++) {
      const h = a * s[0] + i - pd[0], v = b * s[1] + j - pd[1];
      if (h < 0 || h >= H || v < 0 || v >= W) continue;
      terms.push(term([factor(g, "grad", [n, c, h, v])], 1 / (k[0] * k[1]), `1/${k[0] * k[1]} of window (${a}, ${b})`));
    }
    return terms;
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

  // The setting arrays each op's explainer reads (embedded by the page's writer).
  const SETTING_ARRAYS = {
    Where: ["condition"], BatchNormalize: ["inv_std"], GetItem: ["sources"], ScatterAdd: ["sources"],
    MaxPool2dBackward: ["argmax"], MaxPool2dGather: ["argmax"],
  };

  function element(op, ctx, position, flat) {
    const needed = [...ctx.inputs, ctx.output, ctx.g];
    if (needed.some((ref) => !ref || !ref.a || !ref.a.values)) return { missing: "an array this step needs is too large to be embedded in full" };
    ctx.arrays = ctx.arrays || {};
    if ((SETTING_ARRAYS[op] || []).some((name) => !ctx.arrays[name] || !ctx.arrays[name].values)) {
      return { missing: "an array this step needs is too large to be embedded in full" };
    }
    const index = unravel(flat, ctx.inputs[position].a.shape);
    let terms = null;
    if (op in elementwise) terms = explainElementwise(op, ctx, position, index);
    else if (op === "Clone") terms = explainIdentity(ctx, index, "a copy: the same element");
    else if (op === "Cast") terms = explainIdentity(ctx, index, "the same element, cast back to " + ctx.inputs[0].a.dtype);
    else if (op === "DependsOn") terms = explainDependsOn(ctx, position, index);
    else if (op === "Max") terms = explainMax(ctx, index);
    else if (op === "Pad") terms = explainPad(ctx, index);
    else if (op === "Concatenate") terms = explainConcatenate(ctx, position, index);
    else if (op === "GetItem") terms = explainGetItem(ctx, index);
    else if (op === "ScatterAdd") terms = explainScatterAdd(ctx, index);
    else if (op === "BatchNormalize") terms = explainBatchNormalize(ctx, index);
    else if (op === "ConvTranspose2d") terms = explainConvTranspose(ctx, position, index);
    else if (op === "Conv2dGradWeight") terms = explainConvGradWeight(ctx, position, index);
    else if (op === "MaxPool2dBackward") terms = explainMaxPoolBackward(ctx, index);
    else if (op === "MaxPool2dGather") terms = explainMaxPoolGather(ctx, index);
    else if (op === "AvgPool2dBackward") terms = explainAvgPoolBackward(ctx, index);
    else if (op === "Sum") terms = explainSum(ctx, index);
    else if (op === "Reshape") terms = explainReshape(ctx, index);
    else if (op === "Permute") terms = explainPermute(ctx, index);
    else if (op === "Linear") terms = explainLinear(ctx, position, index);
    else if (op === "MatMul") terms = explainMatMul(ctx, position, index);
    else if (op === "Conv2d") terms = explainConv(ctx, position, index);
    else if (op === "MaxPool2d") terms = explainMaxPool(ctx, index);
    else if (op === "AvgPool2d") terms = explainAvgPool(ctx, index);
    else if (op === "CrossEntropy") terms = explainCrossEntropy(ctx, position, index);
    // Every op of the library has an explainer; an op defined outside it (a Function of your own) has none.
    if (terms === null) return { missing: "the page has no cell-by-cell explanation of " + op + ", an op defined outside the library" };
    return { index, terms };
  }
  return { element, unravel, ravel };
})();
