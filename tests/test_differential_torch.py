"""Differential test against PyTorch: random programs of the library's ops, run
side by side in both libraries from the same numbers.

Each program starts from a few leaves (some non-contiguous in memory), applies
3 to 7 random ops (elementwise, broadcasting, reductions over random axes,
shape ops and indexing, matmul, conv2d and conv_transpose2d with random
stride, padding, dilation and groups, pooling, batch norm), reusing earlier
results (fan-out), and ends in a random loss. Compared, in stages:

    float64: the value; the first-order gradients of every leaf (with
             create_graph=True); the second-order ones, the gradient of
             sum_i <grad_i, u_i> for random u_i (skipped only where PyTorch's
             first-order gradients carry no graph at all);
    float32: the value; the first-order gradients.

Seeded: the default run (make test) draws a fixed budget of programs, the
`slow` test a larger one. A planted wrong VJP must make it fail.

PyTorch 2.13 is itself wrong in a few places (docs: NOTES of the project); the
programs avoid them: batch norm is compared with a reference built from
PyTorch's primitives (its own kernel is wrong for channels-last gradients), and
nll_loss gets a contiguous input.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import tinygrad_cnn as tg
from tinygrad_cnn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

DEFAULT_PROGRAMS = 250  # seeds; each runs in float64 and in float32
SLOW_PROGRAMS = 6000

# |ours - theirs| <= atol + rtol * |theirs|, per stage and dtype.
TOLERANCES = {np.float64: (1e-7, 1e-9), np.float32: (2e-3, 2e-4)}
TORCH_DTYPES = {np.float64: torch.float64, np.float32: torch.float32}


@dataclass
class Pair:
    """One value of the program in both libraries."""

    ours: Any
    theirs: Any

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.ours.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)


@dataclass
class Report:
    """What a run compared: programs, stages, and the stages that failed (with why)."""

    programs: int = 0
    stages: int = 0
    passed: int = 0
    second_order_skipped: int = 0
    failures: list[str] = field(default_factory=list)
    ops: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)  # stages by kind: value, gradient, second-order gradient
    float32_by_accuracy: int = 0  # float32 stages passed by their distance to the float64 result
    float32_overflow: int = 0  # float32 stages not compared: PyTorch's float32 overflowed

    def check(self, stage: str, ours: Any, theirs: Any, rtol: float, atol: float, truth: Any = None) -> None:
        """Compare one stage. `truth` (float32 stages): PyTorch's float64 result for the same program."""
        self.stages += 1
        self.kinds[stage.rsplit(", ", 1)[-1].split(" of leaf")[0]] += 1
        ours = np.zeros_like(theirs) if ours is None else np.asarray(ours, dtype=np.float64)
        theirs = np.asarray(theirs, dtype=np.float64)
        if ours.shape != theirs.shape:
            self.failures.append(f"{stage}: shape {ours.shape}, PyTorch's {theirs.shape}")
            return
        if _close(ours, theirs, rtol, atol):
            self.passed += 1
            return
        if truth is not None:
            # float32 rounding: an ill-conditioned program (a batch norm of a batch norm,
            # a gradient that cancels to 1e-13) leaves both libraries far from the exact
            # result. Ours passes when it is no further from PyTorch's float64 result
            # than a few times PyTorch's own float32 error.
            if not np.isfinite(theirs[np.isfinite(truth)]).all():
                self.float32_overflow += 1  # PyTorch's float32 overflowed where float64 did not
                return
            ours_error = np.max(np.abs(ours - truth), initial=0.0)
            theirs_error = np.max(np.abs(theirs - truth), initial=0.0)
            if ours_error <= 4 * theirs_error + atol:
                self.passed += 1
                self.float32_by_accuracy += 1
                return
        self.failures.append(f"{stage}: max |difference| {np.max(np.abs(ours - theirs))}")


def _close(ours: np.ndarray, theirs: np.ndarray, rtol: float, atol: float) -> bool:
    """Equal within |ours - theirs| <= atol + rtol |theirs|, with nan in the same places."""
    if not np.array_equal(np.isnan(ours), np.isnan(theirs)):
        return False
    known = ~np.isnan(theirs)
    return bool(np.allclose(ours[known], theirs[known], rtol=rtol, atol=atol))


class Program:
    """A random program, built and run op by op in both libraries."""

    def __init__(self, seed: int, dtype: type) -> None:
        self.rng = np.random.default_rng(seed)
        self.dtype = dtype
        self.torch_dtype = TORCH_DTYPES[dtype]
        self.leaves: list[Pair] = []
        self.pool: list[Pair] = []
        self.ops: list[str] = []

    # --- leaves and constants ---------------------------------------------

    def leaf(self, shape: tuple[int, ...], low: float = -2.0, high: float = 2.0) -> Pair:
        """A new leaf that requires grad; half of them are non-contiguous (a transposed array)."""
        transposed = len(shape) >= 2 and self.rng.random() < 0.5
        stored = shape[::-1] if transposed else shape
        base = self.rng.uniform(low, high, stored).astype(self.dtype)
        array = base.T if transposed else base
        ours = tg.Tensor(array, requires_grad=True)
        theirs = torch.from_numpy(base.copy())
        theirs = (theirs.permute(*reversed(range(len(shape)))) if transposed else theirs).detach().requires_grad_()
        pair = Pair(ours, theirs)
        self.leaves.append(pair)
        return pair

    def constant(self, array: np.ndarray) -> Pair:
        array = np.asarray(array, dtype=self.dtype)
        return Pair(tg.Tensor(array), torch.from_numpy(array.copy()))

    def apply(self, name: str, ours: Callable[..., Any], theirs: Callable[..., Any], *args: Pair) -> Pair:
        self.ops.append(name)
        result = Pair(ours(*(a.ours for a in args)), theirs(*(a.theirs for a in args)))
        self.pool.append(result)
        return result

    def partner(self, shape: tuple[int, ...]) -> Pair:
        """A second operand for a binary op: an earlier value of the same shape
        (fan-out), or a new leaf of a shape that broadcasts against `shape`."""
        same = [p for p in self.pool if p.shape == shape]
        if same and self.rng.random() < 0.5:
            return same[self.rng.integers(len(same))]
        broadcast = tuple(n if self.rng.random() < 0.6 else 1 for n in shape)
        drop = self.rng.integers(0, len(broadcast) + 1) if self.rng.random() < 0.3 else 0
        return self.leaf(broadcast[drop:])

    def axes(self, ndim: int) -> tuple[int, ...] | int | None:
        choice = self.rng.integers(3)
        if choice == 0 or ndim == 0:
            return None
        if choice == 1:
            return int(self.rng.integers(-ndim, ndim))
        count = int(self.rng.integers(1, ndim + 1))
        return tuple(sorted(int(a) for a in self.rng.choice(ndim, count, replace=False)))

    # --- the ops ----------------------------------------------------------

    def unary(self, x: Pair) -> Pair:
        ops: dict[str, tuple[Callable, Callable]] = {
            "relu": (tg.relu, torch.relu),
            "leaky_relu": (lambda t: F.leaky_relu(t, 0.2), lambda t: TF.leaky_relu(t, 0.2)),
            "abs": (lambda t: t.abs(), torch.abs),
            "tanh": (lambda t: t.tanh(), torch.tanh),
            "sigmoid": (lambda t: t.sigmoid(), torch.sigmoid),
            "exp": (lambda t: (t * 0.5).exp(), lambda t: (t * 0.5).exp()),
            "log": (lambda t: (t * t + 0.5).log(), lambda t: (t * t + 0.5).log()),
            "sqrt": (lambda t: (t * t + 0.1).sqrt(), lambda t: (t * t + 0.1).sqrt()),
            "softplus": (F.softplus, TF.softplus),
            "clip": (lambda t: t.clip(-0.7, 0.9), lambda t: t.clamp(-0.7, 0.9)),
            "pow": (lambda t: (t * t + 0.5) ** 1.5, lambda t: (t * t + 0.5) ** 1.5),
            "square": (lambda t: t**2, lambda t: t**2),
            "neg": (lambda t: -t, lambda t: -t),
        }
        name = list(ops)[self.rng.integers(len(ops))]
        return self.apply(name, *ops[name], x)

    def binary(self, x: Pair) -> Pair:
        y = self.partner(x.shape)
        mask = np.asarray(self.rng.random(np.broadcast_shapes(x.shape, y.shape)) < 0.5)
        ops: dict[str, tuple[Callable, Callable]] = {
            "add": (lambda a, b: a + b, lambda a, b: a + b),
            "sub": (lambda a, b: a - b, lambda a, b: a - b),
            "mul": (lambda a, b: a * b, lambda a, b: a * b),
            "div": (lambda a, b: a / (b * b + 0.5), lambda a, b: a / (b * b + 0.5)),
            "pow (tensor exponent)": (lambda a, b: (a * a + 0.5) ** b, lambda a, b: (a * a + 0.5) ** b),
            "maximum": (tg.maximum, torch.maximum),
            "minimum": (tg.minimum, torch.minimum),
            "where": (lambda a, b: tg.where(mask, a, b), lambda a, b: torch.where(torch.from_numpy(mask), a, b)),
        }
        name = list(ops)[self.rng.integers(len(ops))]
        return self.apply(name, *ops[name], x, y)

    def reduction(self, x: Pair) -> Pair:
        axis = self.axes(x.ndim)
        keepdims = bool(self.rng.random() < 0.5)
        dims = tuple(range(x.ndim)) if axis is None else axis
        kind = ["sum", "mean", "max", "min", "var"][self.rng.integers(5)]
        if kind in ("max", "min"):
            # Random noise first: ties (after relu, clip) would be a matter of convention.
            x = self.apply("add (noise)", lambda a, b: a + b, lambda a, b: a + b, x, self.leaf(x.shape))
            ours = (lambda t: t.max(axis, keepdims=keepdims)) if kind == "max" else (
                lambda t: t.min(axis, keepdims=keepdims))
            torch_fn = torch.amax if kind == "max" else torch.amin
            return self.apply(kind, ours, lambda t: torch_fn(t, dim=dims, keepdim=keepdims), x)
        if kind == "var":
            return self.apply("var", lambda t: t.var(axis, keepdims=keepdims),
                              lambda t: t.var(dim=dims, correction=0, keepdim=keepdims), x)
        method = kind
        return self.apply(kind, lambda t: getattr(t, method)(axis, keepdims=keepdims),
                          lambda t: getattr(t, method)(dim=dims, keepdim=keepdims), x)

    def shape_op(self, x: Pair) -> Pair:
        kind = ["transpose", "reshape", "slice", "index", "concatenate", "stack", "pad", "softmax"][
            self.rng.integers(8)]
        if kind == "transpose" or x.ndim == 0:
            axes = tuple(int(a) for a in self.rng.permutation(x.ndim))
            return self.apply("permute", lambda t: t.permute(axes), lambda t: t.permute(axes), x)
        if kind == "reshape":
            shape = (x.shape[0], -1) if x.ndim > 2 and self.rng.random() < 0.5 else (-1,)
            return self.apply("reshape", lambda t: t.reshape(shape), lambda t: t.reshape(shape), x)
        axis = int(self.rng.integers(x.ndim))
        if kind == "slice":
            start, step = int(self.rng.integers(0, 2)), int(self.rng.integers(1, 3))
            index = (slice(None),) * axis + (slice(start if x.shape[axis] > start else 0, None, step),)
            return self.apply("slice", lambda t: t[index], lambda t: t[index], x)
        if kind == "index":
            picks = self.rng.integers(0, x.shape[axis], size=int(self.rng.integers(1, 5)))  # repeats add up
            index = (slice(None),) * axis + (picks,)
            return self.apply("integer index", lambda t: t[index], lambda t: t[(slice(None),) * axis
                                                                               + (torch.from_numpy(picks),)], x)
        if kind == "concatenate":
            y = self.partner(x.shape)
            y = y if y.shape == x.shape else self.leaf(x.shape)
            return self.apply("concatenate", lambda a, b: tg.concatenate([a, b], axis),
                              lambda a, b: torch.cat([a, b], axis), x, y)
        if kind == "stack":
            y = self.leaf(x.shape)
            return self.apply("stack", lambda a, b: tg.stack([a, b], axis), lambda a, b: torch.stack([a, b], axis),
                              x, y)
        if kind == "pad":
            widths = [(int(self.rng.integers(0, 2)), int(self.rng.integers(0, 2))) for _ in range(x.ndim)]
            torch_pad = [n for before, after in reversed(widths) for n in (before, after)]
            return self.apply("pad", lambda t: t.pad(widths), lambda t: TF.pad(t, torch_pad), x)
        log = self.rng.random() < 0.5
        ours_fn = F.log_softmax if log else F.softmax
        theirs_fn = torch.log_softmax if log else torch.softmax
        return self.apply("log_softmax" if log else "softmax", lambda t: ours_fn(t, axis),
                          lambda t: theirs_fn(t, axis), x)

    def matmul(self, x: Pair) -> Pair:
        w = self.leaf((x.shape[-1], int(self.rng.integers(1, 5))))
        if self.rng.random() < 0.5:
            bias = self.leaf((w.shape[1],))
            weight_t = self.apply("transpose", lambda t: t.T, lambda t: t.T, w)
            return self.apply("linear", F.linear, TF.linear, x, weight_t, bias)
        return self.apply("matmul", lambda a, b: a @ b, lambda a, b: a @ b, x, w)

    def image_op(self, x: Pair) -> Pair:
        n, c, h, w = x.shape
        kind = ["conv2d", "conv_transpose2d", "max_pool2d", "avg_pool2d", "batch_norm"][self.rng.integers(5)]
        kh, kw = (int(k) for k in self.rng.integers(1, 4, size=2))
        stride = tuple(int(s) for s in self.rng.integers(1, 3, size=2))
        dilation = tuple(int(d) for d in self.rng.integers(1, 3, size=2))
        if kind == "conv2d":
            padding = tuple(int(p) for p in self.rng.integers(0, 2, size=2))
            if h + 2 * padding[0] < dilation[0] * (kh - 1) + 1 or w + 2 * padding[1] < dilation[1] * (kw - 1) + 1:
                return self.unary(x)
            groups = int(self.rng.choice([g for g in (1, 2, 3) if c % g == 0]))
            out = groups * int(self.rng.integers(1, 3))
            weight = self.leaf((out, c // groups, kh, kw), -1.0, 1.0)
            bias = self.leaf((out,)) if self.rng.random() < 0.5 else None
            geometry = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
            if bias is None:
                return self.apply("conv2d", lambda a, b: F.conv2d(a, b, **geometry),
                                  lambda a, b: TF.conv2d(a, b, **geometry), x, weight)
            return self.apply("conv2d", lambda a, b, e: F.conv2d(a, b, e, **geometry),
                              lambda a, b, e: TF.conv2d(a, b, e, **geometry), x, weight, bias)
        if kind == "conv_transpose2d":
            padding = (0, 0)
            output_padding = tuple(int(self.rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
            groups = int(self.rng.choice([g for g in (1, 2, 3) if c % g == 0]))
            weight = self.leaf((c, int(self.rng.integers(1, 3)), kh, kw), -1.0, 1.0)
            geometry = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                            dilation=dilation)
            return self.apply("conv_transpose2d", lambda a, b: F.conv_transpose2d(a, b, **geometry),
                              lambda a, b: TF.conv_transpose2d(a, b, **geometry), x, weight)
        if kind in ("max_pool2d", "avg_pool2d"):
            kernel = (min(kh + 1, h), min(kw + 1, w))
            padding = tuple(int(self.rng.integers(0, k // 2 + 1)) for k in kernel)
            if kind == "avg_pool2d":
                return self.apply("avg_pool2d", lambda t: F.avg_pool2d(t, kernel, stride, padding),
                                  lambda t: TF.avg_pool2d(t, kernel, stride, padding), x)
            dilation = (1, 1) if any(d * (k - 1) + 1 > s + 2 * p for d, k, s, p in
                                     zip(dilation, kernel, (h, w), padding)) else dilation
            x = self.apply("add (noise)", lambda a, b: a + b, lambda a, b: a + b, x, self.leaf(x.shape))
            return self.apply("max_pool2d", lambda t: F.max_pool2d(t, kernel, stride, padding, dilation),
                              lambda t: TF.max_pool2d(t, kernel, stride, padding, dilation), x)
        if n * h * w < 2:  # batch statistics need two values per channel
            return self.unary(x)
        gamma, beta = self.leaf((c,), 0.5, 1.5), self.leaf((c,))
        return self.apply("batch_norm", lambda t, g, b: F.batch_norm(t, None, None, g, b, training=True),
                          _torch_batch_norm, x, gamma, beta)

    # --- the whole program --------------------------------------------------

    def build(self) -> tuple[Pair, Pair]:
        """The program's last value and its scalar loss."""
        if self.rng.random() < 0.45:
            x = self.leaf((int(self.rng.integers(1, 4)), int(self.rng.choice([1, 2, 3, 4])),
                           int(self.rng.integers(3, 7)), int(self.rng.integers(3, 7))))
        else:
            x = self.leaf(tuple(int(n) for n in self.rng.integers(1, 5, size=int(self.rng.integers(1, 4)))))
        self.pool.append(x)
        for _ in range(int(self.rng.integers(3, 8))):
            x = self.step(x)
        return x, self.loss(x)

    def step(self, x: Pair) -> Pair:
        choice = self.rng.random()
        if x.ndim == 4 and choice < 0.45:
            return self.image_op(x)
        if x.ndim == 2 and choice < 0.25:
            return self.matmul(x)
        if choice < 0.55:
            return self.unary(x)
        if choice < 0.75:
            return self.binary(x)
        if choice < 0.85 and x.ndim >= 1:
            return self.shape_op(x)
        if x.ndim >= 1 and self.rng.random() < 0.5:
            return self.reduction(x)
        return self.unary(x)

    def loss(self, x: Pair) -> Pair:
        kind = int(self.rng.integers(5))
        if kind == 0 and x.ndim >= 2 and x.shape[1] >= 2:
            labels = self.rng.integers(0, x.shape[1], size=(x.shape[0],) + x.shape[2:])
            if self.rng.random() < 0.5:
                return self.apply("cross_entropy", lambda t: F.cross_entropy(t, labels),
                                  lambda t: TF.cross_entropy(t, torch.from_numpy(labels)), x)
            return self.apply("nll_loss", lambda t: F.nll_loss(F.log_softmax(t, 1), labels),
                              lambda t: TF.nll_loss(torch.log_softmax(t, 1).contiguous(), torch.from_numpy(labels)), x)
        if kind == 1 and x.ndim >= 2 and x.shape[1] >= 2:
            target = self.constant(self.rng.dirichlet(np.ones(x.shape[1]), size=x.shape[0]).reshape(
                (x.shape[0], x.shape[1]) + (1,) * (x.ndim - 2)) * np.ones(x.shape))
            return self.apply("cross_entropy (probabilities)", F.cross_entropy, TF.cross_entropy, x, target)
        if kind == 2:
            target = self.constant(self.rng.uniform(0, 1, x.shape))
            return self.apply("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits,
                              TF.binary_cross_entropy_with_logits, x, target)
        if kind == 3:
            target = self.constant(self.rng.uniform(-1, 1, x.shape))
            return self.apply("mse_loss", F.mse_loss, TF.mse_loss, x, target)
        weights = self.constant(self.rng.standard_normal(x.shape))
        return self.apply("weighted sum", lambda t, v: (t * v).sum(), lambda t, v: (t * v).sum(), x, weights)


def _torch_batch_norm(x: Any, gamma: Any, beta: Any) -> Any:
    """Training-mode batch norm from PyTorch primitives (its kernel is wrong for channels-last gradients)."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = x.mean(dim=axes, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=axes, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * gamma.reshape(shape) + beta.reshape(shape)


def run_program(seed: int, report: Report) -> None:
    """Build program `seed` in float64 and in float32, run it in both libraries, and
    compare every stage into `report`."""
    with np.errstate(all="ignore"):
        truth = _compare(Program(seed, np.float64), seed, report, truth=None)
        _compare(Program(seed, np.float32), seed, report, truth=truth)


def _compare(program: Program, seed: int, report: Report, truth: dict[str, np.ndarray] | None) -> dict:
    """Run and compare one program; return PyTorch's results by stage (the float64
    ones are the reference of the float32 run)."""
    rtol, atol = TOLERANCES[program.dtype]
    out, loss = program.build()
    report.programs += 1
    report.ops.update(program.ops)
    name = f"program {seed} ({np.dtype(program.dtype).name}: {' -> '.join(program.ops)})"
    results = {"value": out.theirs.detach().numpy(), "loss": loss.theirs.detach().numpy()}

    def check(stage: str, ours: Any, theirs: np.ndarray) -> None:
        reference = None if truth is None else truth[stage]
        report.check(f"{name}, {stage}", ours, theirs, rtol, atol, reference)

    check("value", out.ours.data, results["value"])
    check("loss", loss.ours.data, results["loss"])
    second_order = program.dtype == np.float64
    leaves = program.leaves
    ours = tg.grad(loss.ours, [p.ours for p in leaves], create_graph=second_order, allow_unused=True)
    theirs = torch.autograd.grad(loss.theirs, [p.theirs for p in leaves], create_graph=second_order,
                                 allow_unused=True)
    for i, (g, h) in enumerate(zip(ours, theirs)):
        results[f"gradient of leaf {i}"] = _numpy(h, leaves[i])
        check(f"gradient of leaf {i}", None if g is None else g.data, results[f"gradient of leaf {i}"])
    if not second_order:
        return results
    # Second order: d/dleaves of sum_i <grad_i, u_i>, with random directions u_i.
    directions = [program.rng.standard_normal(p.shape) for p in leaves]
    ours_dot = [(g * tg.Tensor(u)).sum() for g, u in zip(ours, directions) if g is not None]
    theirs_dot = [(h * torch.from_numpy(u)).sum() for h, u in zip(theirs, directions) if h is not None]
    if not any(t.requires_grad for t in theirs_dot):
        report.second_order_skipped += 1  # PyTorch's gradients carry no graph: nothing to differentiate
        return results
    ours_total = sum(ours_dot[1:], ours_dot[0])
    if not ours_total.requires_grad:
        report.stages += 1
        report.kinds["second-order graph"] += 1
        report.failures.append(f"{name}, second order: our first-order gradients carry no graph, PyTorch's do")
        return results
    theirs_total = sum(theirs_dot[1:], theirs_dot[0])
    ours2 = tg.grad(ours_total, [p.ours for p in leaves], allow_unused=True)
    theirs2 = torch.autograd.grad(theirs_total, [p.theirs for p in leaves], allow_unused=True)
    for i, (g, h) in enumerate(zip(ours2, theirs2)):
        check(f"second-order gradient of leaf {i}", None if g is None else g.data, _numpy(h, leaves[i]))
    return results


def _numpy(gradient: Any, leaf: Pair) -> np.ndarray:
    """A PyTorch gradient as an array: None (unused) and PyTorch's ZeroTensor (the
    second derivative of abs, say) are zeros. (numpy() refuses a ZeroTensor,
    and numpy(force=True) on one crashes PyTorch 2.13 with a segmentation fault.)"""
    if gradient is None or gradient._is_zerotensor():
        return np.zeros(leaf.shape)
    return gradient.detach().numpy()


def run(programs: int, first_seed: int = 0, stop_at_first_failure: bool = False) -> Report:
    """Programs first_seed, first_seed + 1, ..., each in float64 and float32."""
    report = Report()
    for seed in range(first_seed, first_seed + programs):
        run_program(seed, report)
        if stop_at_first_failure and report.failures:
            return report
    return report


def _summary(report: Report) -> str:
    return (f"{report.programs} programs, {report.stages} stages compared, {report.passed} passed, "
            f"{len(report.failures)} failed, {report.second_order_skipped} second-order stages without a "
            f"graph in PyTorch; by kind: {dict(report.kinds)}; float32 stages passed by their distance to the "
            f"float64 result: {report.float32_by_accuracy}, not compared (PyTorch's float32 overflowed): "
            f"{report.float32_overflow}; ops used: {sum(report.ops.values())}")


# The op families every budget must have exercised (so the test cannot pass by running nothing).
REQUIRED_OPS = {
    "relu", "tanh", "exp", "log", "add", "mul", "div", "maximum", "where", "sum", "mean", "max", "var", "permute",
    "reshape", "slice", "integer index", "concatenate", "stack", "pad", "softmax", "matmul", "linear", "conv2d",
    "conv_transpose2d", "max_pool2d", "avg_pool2d", "batch_norm", "cross_entropy", "mse_loss",
    "binary_cross_entropy_with_logits", "weighted sum",
}


def test_random_programs_match_pytorch() -> None:
    torch.set_num_threads(1)
    report = run(DEFAULT_PROGRAMS)
    print("\ndifferential test against PyTorch (default budget):", _summary(report))
    assert not report.failures, "\n".join(report.failures[:20])
    assert report.passed == report.stages
    assert report.kinds["second-order gradient"] > report.programs  # second order was compared in most programs
    assert REQUIRED_OPS <= set(report.ops), f"not exercised: {sorted(REQUIRED_OPS - set(report.ops))}"


@pytest.mark.slow
def test_random_programs_match_pytorch_large_budget() -> None:
    torch.set_num_threads(1)
    report = run(SLOW_PROGRAMS, first_seed=DEFAULT_PROGRAMS)
    print("\ndifferential test against PyTorch (slow budget):", _summary(report))
    assert not report.failures, "\n".join(report.failures[:20])
    assert report.passed == report.stages


# ---------------------------------------------------------------------------
# Negative controls: a planted wrong VJP must be caught
# ---------------------------------------------------------------------------


def _wrong_tanh_backward(self: Any, g: tg.Tensor) -> tuple[tg.Tensor]:
    t = self.output
    return (g * (1 - t),)  # should be 1 - t*t


def _wrong_conv_weight_backward(self: Any, g: tg.Tensor) -> tuple[Any, ...]:
    grads = _original_conv_backward(self, g)
    return (grads[0], grads[1] * 1.001, *grads[2:]) if grads[1] is not None else grads


_original_conv_backward = tg.conv.Conv2d.backward


@pytest.mark.parametrize("cls, wrong, op", [
    (tg.ops.Tanh, _wrong_tanh_backward, "tanh"),
    # Conv2d's backward also runs in the double backward of conv_transpose2d.
    (tg.conv.Conv2d, _wrong_conv_weight_backward, "conv"),
], ids=["tanh", "conv2d-weight-off-by-0.1%"])
def test_a_planted_wrong_vjp_is_caught(monkeypatch: pytest.MonkeyPatch, cls: type, wrong: Callable, op: str) -> None:
    # The same seeds pass with the right VJP (test_random_programs_match_pytorch runs them).
    torch.set_num_threads(1)
    monkeypatch.setattr(cls, "backward", wrong)
    planted = run(DEFAULT_PROGRAMS, stop_at_first_failure=True)
    assert planted.failures, f"a wrong {cls.__name__} VJP went unnoticed in {planted.programs} programs"
    assert op in planted.failures[0]  # the failing program is one that uses the op
    print(f"\nplanted wrong {cls.__name__} VJP caught: {planted.failures[0]}")
