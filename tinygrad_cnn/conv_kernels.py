"""Fast numpy kernels for 2-D convolution and pooling.

Plain arrays in, plain arrays out: no autograd here. ``tinygrad_cnn.conv`` wraps
these kernels into differentiable Functions.

Layouts follow PyTorch: activations are NCHW ``(batch, channels, height, width)``
and convolution weights are OIHW ``(out_channels, in_channels // groups, kh, kw)``.

Three linear maps cover every convolution-like operation:

* ``conv2d_forward(x, w)``        y = x (*) w, a cross-correlation (what deep
  learning calls "convolution");
* ``conv2d_grad_input(gy, w)``    the adjoint of that map in ``x``: a *full*
  convolution of ``gy`` with the 180-degree rotated kernel. It is also the
  forward pass of a transposed convolution;
* ``conv2d_grad_weight(x, gy)``   the adjoint in ``w``: the valid
  cross-correlation of ``x`` with ``gy``.

How they are computed (im2col)
------------------------------
For every kernel tap ``(i, j)`` the input pixels it touches, one per output
pixel, form a strided slice of the (padded) input. Copying the ``KH*KW`` slices
into one buffer gives the "column" matrix ``cols`` with layout

    cols[c, i, j, n, oh, ow] = x_padded[n, c, oh*sh + i*dh, ow*sw + j*dw]

which, reshaped to ``(groups, C/groups * KH * KW, N * OH * OW)``, turns the
convolution into one large matrix product per group:

    y[o, (n, oh, ow)] = sum over (c, i, j) of  w[o, (c, i, j)] * cols[(c, i, j), (n, oh, ow)]

The two gradients are the two other products of the same three matrices
(``w.T @ gy`` and ``gy @ cols.T``); the input gradient then scatters its columns
back with ``KH*KW`` strided additions ("col2im"), the reverse of the copies.
A convolution with few rows (``C/groups*KH*KW``, e.g. a first layer on grey
images) keeps its columns per sample instead, ``(N, C, KH, KW, OH, OW)``, and
runs one small product per sample, which writes NCHW directly (see
``_sample_major``). ``conv2d_forward(..., keep_columns=True)`` hands the column
matrix to the caller so that ``conv2d_grad_weight`` can reuse it.

Large temporaries (the column matrix unless the caller keeps it, the padded
input, the channel-first copies of the output and of the upstream gradient,
the pooling masks) live in per-thread scratch buffers that are reused between calls: mapping and
unmapping tens of megabytes on every call costs page faults that show up as a
sizeable share of a training step. The buffers stay allocated at the size of
the largest layer seen (about 100 MB for a float32 32x64x32x32 -> 128, 3x3
layer); ``release_scratch()`` frees them. Results are always fresh arrays.
"""

from __future__ import annotations

import threading
from typing import Literal, overload

import numpy as np
import numpy.typing as npt

Pair = tuple[int, int]

__all__ = [
    "conv_output_size",
    "conv2d_forward",
    "conv2d_grad_input",
    "conv2d_grad_weight",
    "max_pool2d_forward",
    "max_pool2d_backward",
    "max_pool2d_gather",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "release_scratch",
]


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Number of window positions along one axis: ``(size + 2P - D*(K-1) - 1) // S + 1``.

    ``D*(K-1) + 1`` is the span of a dilated kernel. The result can be zero or
    negative when the kernel does not fit; callers validate that.
    """
    span = dilation * (kernel - 1) + 1
    return (size + 2 * padding - span) // stride + 1


class _Scratch(threading.local):
    """Per-thread reusable work buffers, one flat array per (slot, dtype)."""

    def __init__(self) -> None:
        self.buffers: dict[tuple[str, str], np.ndarray] = {}


_scratch = _Scratch()


def _scratch_array(slot: str, shape: tuple[int, ...], dtype: npt.DTypeLike) -> np.ndarray:
    """An uninitialised array of ``shape`` backed by a reusable buffer.

    Each slot holds one array at a time: a kernel must not take the same slot
    twice, and must never return a scratch array (or a view of one) to its caller.
    """
    dtype = np.dtype(dtype)
    size = 1
    for dim in shape:
        size *= dim
    key = (slot, dtype.str)
    buffer = _scratch.buffers.get(key)
    if buffer is None or buffer.size < size:
        buffer = np.empty(size, dtype=dtype)
        _scratch.buffers[key] = buffer
    return buffer[:size].reshape(shape)


def release_scratch() -> None:
    """Free the scratch buffers held by the calling thread."""
    _scratch.buffers.clear()


def _tap(a: np.ndarray, i: int, j: int, out_hw: Pair, stride: Pair, dilation: Pair) -> np.ndarray:
    """Strided view of the positions that kernel tap ``(i, j)`` touches, one per output pixel.

    For an array ``a`` of shape ``(..., H, W)`` the result has shape
    ``(..., OH, OW)`` and ``result[..., oh, ow] = a[..., oh*sh + i*dh, ow*sw + j*dw]``.
    """
    out_h, out_w = out_hw
    sh, sw = stride
    dh, dw = dilation
    r0 = i * dh
    c0 = j * dw
    return a[..., r0 : r0 + sh * (out_h - 1) + 1 : sh, c0 : c0 + sw * (out_w - 1) + 1 : sw]


def _pad_spatial(x: np.ndarray, padding: Pair, fill: float, out: np.ndarray | None = None) -> np.ndarray:
    """Copy of ``x`` (``(..., H, W)``) with ``padding`` rows/columns of ``fill`` on each side."""
    ph, pw = padding
    h, w = x.shape[-2:]
    if out is None:
        out = np.empty(x.shape[:-2] + (h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    # Fill only the border strips, then copy the interior once.
    if ph:
        out[..., :ph, :] = fill
        out[..., ph + h :, :] = fill
    if pw:
        out[..., ph : ph + h, :pw] = fill
        out[..., ph : ph + h, pw + w :] = fill
    out[..., ph : ph + h, pw : pw + w] = x
    return out


def _check_windows_fit(name: str, in_hw: Pair, out_hw: Pair, kernel: Pair, stride: Pair,
                       padding: Pair, dilation: Pair) -> None:
    """Raise if ``out_hw`` windows do not fit in the padded input (internal misuse)."""
    for axis in range(2):
        natural = conv_output_size(in_hw[axis], kernel[axis], stride[axis], padding[axis], dilation[axis])
        if out_hw[axis] < 1 or out_hw[axis] > natural:
            raise ValueError(
                f"{name}: {out_hw[axis]} output positions along axis {axis} do not fit an input of "
                f"size {in_hw[axis]} with kernel {kernel[axis]}, stride {stride[axis]}, "
                f"padding {padding[axis]}, dilation {dilation[axis]} (at most {natural})"
            )


# Below this many rows (C/groups * KH * KW) the column matrix is kept per sample.
SAMPLE_MAJOR_MAX_ROWS = 32


def _sample_major(rows: int) -> bool:
    """Which layout the column matrix of a convolution with ``rows`` rows per group takes.

    Usually one large matrix product over the whole batch is fastest (channel-major
    columns, ``(C, KH, KW, N, OH, OW)``); its result then needs one transposing copy
    to NCHW. With few rows (a first layer on grey or colour images: 1*3*3 or
    3*3*3) the products are cheap and the copies dominate, so the columns are kept
    per sample instead, ``(N, C, KH, KW, OH, OW)``: one small product per sample
    then writes NCHW directly, and the weight gradient needs no transposed copy
    of the upstream gradient.
    """
    return rows <= SAMPLE_MAJOR_MAX_ROWS


def _im2col(x: np.ndarray, kernel: Pair, out_hw: Pair, stride: Pair, padding: Pair,
            dilation: Pair, dtype: np.dtype, sample_major: bool, scratch: bool = True) -> np.ndarray:
    """Column matrix of ``x``, shape ``(C, KH, KW, N, OH, OW)`` (or ``(N, C, KH, KW, OH, OW)``
    when ``sample_major``).

    ``cols[c, i, j, n, oh, ow] = x_padded[n, c, oh*sh + i*dh, ow*sw + j*dw]``.
    It lives in the "col" scratch slot, or is a fresh array that the caller can
    keep when ``scratch=False``.
    """
    n, c = x.shape[:2]
    kh, kw = kernel
    out_h, out_w = out_hw
    flat = _taps_are_flat_shifts(x.shape[2:], out_hw, stride)
    if padding != (0, 0) and not flat:
        padded_shape = (n, c, x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
        x = _pad_spatial(x, padding, 0, out=_scratch_array("pad", padded_shape, dtype))
    if sample_major:
        shape = (n, c, kh, kw, out_h, out_w)
        x_major = x.reshape(n * c, 1, *x.shape[2:])  # (N*C) "channels" of one sample
    else:
        shape = (c, kh, kw, n, out_h, out_w)
        # Put channels first so that each tap's copy lands in one contiguous block.
        x_major = x.transpose(1, 0, 2, 3)
    cols = _scratch_array("col", shape, dtype) if scratch else np.empty(shape, dtype=dtype)
    # Either way, axis 0 of `blocks` runs over x_major's first axis and axes 1, 2
    # over the taps.
    blocks = cols.reshape(x_major.shape[0], kh, kw, -1, out_h, out_w)
    if flat:
        _copy_flat_taps(x_major, blocks, padding, dilation)
        return cols
    for i in range(kh):
        for j in range(kw):
            blocks[:, i, j] = _tap(x_major, i, j, out_hw, stride, dilation)
    return cols


# Same-size convolutions (stride 1, output as large as the input: 3x3 with
# padding 1, 5x5 with padding 2, ...) are the common case, and they allow a
# faster im2col and col2im. Number the pixels of an H x W image row by row,
# q = h*W + w. Tap (i, j) then reads, for output pixel q, the input pixel
# q + shift with shift = (i*dh - ph)*W + (j*dw - pw): the same offset for every
# pixel. So each tap is ONE copy of a long run of consecutive pixels (whole
# images at a time) instead of OH separate rows of OW pixels, and no padded copy
# of the input is needed. Two corrections make it exact: the pixels whose
# source falls above or below the image are zeros (the ends of the run), and so
# are those whose source column falls off the left or right edge (a run of
# consecutive pixels wraps into the neighbouring row there): a few columns.


def _taps_are_flat_shifts(in_hw: tuple[int, ...], out_hw: Pair, stride: Pair) -> bool:
    """Whether every tap is a constant shift of the row-by-row pixel numbering."""
    return stride == (1, 1) and tuple(out_hw) == tuple(in_hw)


def _flat_shift(i: int, j: int, hw: Pair, padding: Pair, dilation: Pair) -> tuple[int, int, int, slice | None]:
    """For tap (i, j) of a same-size convolution on an ``hw`` image: ``(shift, q0, q1, edge)``.

    Output pixels ``q0 <= q < q1`` read input pixel ``q + shift``; the others
    read padding. ``edge`` is the slice of output columns whose source column is
    off the image (they read padding too), or None.
    """
    h, w = hw
    row_offset = i * dilation[0] - padding[0]
    column_offset = j * dilation[1] - padding[1]
    shift = row_offset * w + column_offset
    q0 = max(0, -shift)
    q1 = min(h * w, h * w - shift)
    if column_offset < 0:
        edge = slice(0, min(-column_offset, w))
    elif column_offset > 0:
        edge = slice(max(w - column_offset, 0), w)
    else:
        edge = None
    return shift, q0, q1, edge


def _copy_flat_taps(x_major: np.ndarray, blocks: np.ndarray, padding: Pair, dilation: Pair) -> None:
    """im2col of a same-size convolution: ``blocks[:, i, j] = tap (i, j) of x_major``.

    x_major: ``(A, B, H, W)``; blocks: ``(A, KH, KW, B, H, W)`` (C-contiguous).
    """
    a, b, h, w = x_major.shape
    kh, kw = blocks.shape[1:3]
    # (A, B, H*W): a view unless x itself is not contiguous (then a copy).
    source = x_major.reshape(a, b, h * w)
    for i in range(kh):
        for j in range(kw):
            shift, q0, q1, edge = _flat_shift(i, j, (h, w), padding, dilation)
            block = blocks[:, i, j]
            target = block.reshape(a, b, h * w)  # a view: blocks is contiguous
            if q0 >= q1:
                target[...] = 0  # the whole tap is on padding
                continue
            target[..., q0:q1] = source[..., q0 + shift : q1 + shift]
            target[..., :q0] = 0
            target[..., q1:] = 0
            if edge is not None:
                block[..., edge] = 0


def _channels_first(a: np.ndarray, slot: str, dtype: np.dtype) -> np.ndarray:
    """``a`` (N, C, H, W) copied into scratch as a (C, N*H*W) matrix."""
    n, c, h, w = a.shape
    out = _scratch_array(slot, (c, n, h, w), dtype)
    np.copyto(out, a.transpose(1, 0, 2, 3))
    return out.reshape(c, n * h * w)


def _fresh_nchw(a_cn: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """A new C-contiguous NCHW array from a (C, N, H, W) one (usually a scratch view).

    Always a copy: ``np.ascontiguousarray`` would hand back the scratch memory
    itself when the transposed view happens to be contiguous (for example N = 1).
    A bias (one value per channel) is added during that copy, which costs no
    extra pass over the output.
    """
    c, n, h, w = a_cn.shape
    out = np.empty((n, c, h, w), dtype=a_cn.dtype)
    if bias is None:
        np.copyto(out, a_cn.transpose(1, 0, 2, 3))
    else:
        np.add(a_cn.transpose(1, 0, 2, 3), bias.reshape(1, c, 1, 1), out=out)
    return out


# ---------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------


# The result is y alone, or with keep_columns=True the pair (y, columns): these two signatures tell
# a type checker which one a call gets.
@overload
def conv2d_forward(x: np.ndarray, w: np.ndarray, stride: Pair = ..., padding: Pair = ..., dilation: Pair = ...,
                   groups: int = ..., out_hw: Pair | None = ..., bias: np.ndarray | None = ...,
                   keep_columns: Literal[False] = ...) -> np.ndarray: ...


@overload
def conv2d_forward(x: np.ndarray, w: np.ndarray, stride: Pair = ..., padding: Pair = ..., dilation: Pair = ...,
                   groups: int = ..., out_hw: Pair | None = ..., bias: np.ndarray | None = ...,
                   *, keep_columns: Literal[True]) -> tuple[np.ndarray, np.ndarray | None]: ...


def conv2d_forward(x: np.ndarray, w: np.ndarray, stride: Pair = (1, 1), padding: Pair = (0, 0),
                   dilation: Pair = (1, 1), groups: int = 1, out_hw: Pair | None = None,
                   bias: np.ndarray | None = None,
                   keep_columns: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray | None]:
    """2-D cross-correlation ``y = x (*) w (+ bias)``, the forward pass of ``conv2d``.

    Args:
        x: input ``(N, C, H, W)``.
        w: weights ``(O, C // groups, KH, KW)``.
        stride, padding, dilation: ``(height, width)`` pairs; padding is zeros.
        groups: input and output channels split into ``groups`` independent
            convolutions.
        out_hw: compute only the first ``out_hw`` output rows/columns (at most the
            natural size). A transposed convolution whose ``output_padding`` reaches
            a whole stride needs this for its input gradient.
        bias: ``(O,)`` or None, added to every output position of its channel.
        keep_columns: also return the column matrix (a fresh array), so that the
            weight gradient can use it instead of copying the input again.

    Returns:
        ``y`` of shape ``(N, O, OH, OW)``, C-contiguous, dtype ``result_type(x, w)``;
        with ``keep_columns``, the pair ``(y, columns)`` (columns is None for an empty batch).
    """
    n, c, h, wid = x.shape
    o, c_per_group, kh, kw = w.shape
    dtype = np.result_type(x.dtype, w.dtype)
    if out_hw is None:
        out_hw = (
            conv_output_size(h, kh, stride[0], padding[0], dilation[0]),
            conv_output_size(wid, kw, stride[1], padding[1], dilation[1]),
        )
    _check_windows_fit("conv2d_forward", (h, wid), out_hw, (kh, kw), stride, padding, dilation)
    out_h, out_w = out_hw
    g = groups
    if n == 0:  # an empty batch: an empty output (and no columns to keep)
        y = np.zeros((0, o, out_h, out_w), dtype=dtype)
        return (y, None) if keep_columns else y

    rows = c_per_group * kh * kw
    sample_major = _sample_major(rows)
    columns = _im2col(x, (kh, kw), out_hw, stride, padding, dilation, dtype, sample_major, scratch=not keep_columns)
    w_mat = w.reshape(g, o // g, rows).astype(dtype, copy=False)
    if sample_major:
        # (O/g, rows) @ (rows, OH*OW) for each sample and group: the result,
        # (N, g, O/g, OH*OW), is NCHW already.
        y = np.matmul(w_mat, columns.reshape(n, g, rows, out_h * out_w)).reshape(n, o, out_h, out_w)
        if bias is not None:
            y += bias.reshape(1, o, 1, 1)
        return (y, columns) if keep_columns else y
    cols = columns.reshape(g, rows, n * out_h * out_w)

    # One matrix product per group: (O/g, C/g*KH*KW) @ (C/g*KH*KW, N*OH*OW).
    y_cn = _scratch_array("mat", (g, o // g, n * out_h * out_w), dtype)
    np.matmul(w_mat, cols, out=y_cn)

    # (O, N, OH, OW) -> NCHW, the only copy of the output (the bias is added on the way).
    y = _fresh_nchw(y_cn.reshape(o, n, out_h, out_w), bias)
    return (y, columns) if keep_columns else y


def conv2d_grad_input(gy: np.ndarray, w: np.ndarray, input_shape: tuple[int, ...], stride: Pair = (1, 1),
                      padding: Pair = (0, 0), dilation: Pair = (1, 1), groups: int = 1,
                      work: np.ndarray | None = None) -> np.ndarray:
    """Gradient of ``conv2d_forward`` with respect to its input (also: transposed convolution).

    Mathematically the full convolution of ``gy`` (dilated by the stride) with the
    180-degree rotated kernel, summed over output channels, then cropped by the
    padding. Computed as ``gcols = w.T @ gy`` followed by col2im: each tap's
    column block is added back onto the strided slice of the (padded) input it
    came from. Rows/columns of ``input_shape`` that no window touches (from
    ``output_padding`` or a stride that does not divide evenly) get zero.

    Args:
        gy: upstream gradient ``(N, O, OH, OW)``.
        w: weights ``(O, C // groups, KH, KW)``.
        input_shape: ``(N, C, H, W)`` of the result.
        work: an array the kernel may overwrite, used for the column gradients
            instead of a scratch buffer when its size and dtype fit (the forward's
            column matrix of the same convolution always does), or None.

    Returns:
        ``gx`` of shape ``input_shape``, C-contiguous.
    """
    n, o, out_h, out_w = gy.shape
    _, c_per_group, kh, kw = w.shape
    _, c, h, wid = input_shape
    dtype = np.result_type(gy.dtype, w.dtype)
    _check_windows_fit("conv2d_grad_input", (h, wid), (out_h, out_w), (kh, kw), stride, padding, dilation)
    g = groups
    if n == 0:  # an empty batch
        return np.zeros(input_shape, dtype=dtype)

    gy_mat = _channels_first(gy, "mat", dtype).reshape(g, o // g, n * out_h * out_w)
    w_mat = w.reshape(g, o // g, c_per_group * kh * kw).astype(dtype, copy=False)

    # (C/g*KH*KW, O/g) @ (O/g, N*OH*OW) per group: one column block per tap.
    gcols_shape = (g, c_per_group * kh * kw, n * out_h * out_w)
    if work is not None and work.dtype == dtype and work.size == c * kh * kw * n * out_h * out_w \
            and work.flags.c_contiguous:
        gcols = work.reshape(gcols_shape)
    else:
        gcols = _scratch_array("col", gcols_shape, dtype)
    np.matmul(w_mat.transpose(0, 2, 1), gy_mat, out=gcols)
    gcols = gcols.reshape(c, kh, kw, n, out_h, out_w)

    # col2im: scatter-add every tap's block onto the positions it was read from.
    # Overlapping windows (stride < span) add up, which is exactly the sum in the
    # chain rule. Works channel-first to match the layout of the blocks.
    if _taps_are_flat_shifts((h, wid), (out_h, out_w), stride):
        return _flat_col2im(gcols, (n, c, h, wid), padding, dilation)
    ph, pw = padding
    gx_cn = _scratch_array("pad", (c, n, h + 2 * ph, wid + 2 * pw), dtype)
    gx_cn.fill(0)
    for i in range(kh):
        for j in range(kw):
            _tap(gx_cn, i, j, (out_h, out_w), stride, dilation)[...] += gcols[:, i, j]

    # Crop the padding (its gradient goes nowhere) and return to NCHW.
    return _fresh_nchw(gx_cn[:, :, ph : ph + h, pw : pw + wid])


def _flat_col2im(gcols: np.ndarray, input_shape: tuple[int, ...], padding: Pair, dilation: Pair) -> np.ndarray:
    """col2im of a same-size convolution (see `_flat_shift`): a fresh NCHW array.

    gcols: ``(C, KH, KW, N, H, W)``, scratch that may be overwritten. Each tap's
    block is added onto the input pixels it read, as one run of consecutive
    pixels; the parts that read padding are zeroed first (their gradient goes
    nowhere). A tap without any shift (the centre of an odd kernel) is assigned
    rather than added, so the result needs no zero-filling beforehand.
    """
    n, c, h, w = input_shape
    kh, kw = gcols.shape[1:3]
    taps = [(i, j, *_flat_shift(i, j, (h, w), padding, dilation)) for i in range(kh) for j in range(kw)]
    centre = [t for t in taps if t[2] == 0 and t[5] is None]
    gx = np.empty(input_shape, dtype=gcols.dtype) if centre else np.zeros(input_shape, dtype=gcols.dtype)
    gx_cn = gx.reshape(n, c, h * w).transpose(1, 0, 2)  # (C, N, H*W), a view of gx
    if centre:
        taps.remove(centre[0])
        i, j = centre[0][:2]
        gx_cn[...] = gcols[:, i, j].reshape(c, n, h * w)
    for i, j, shift, q0, q1, edge in taps:
        if q0 >= q1:
            continue  # the whole tap read padding
        block = gcols[:, i, j]
        if edge is not None:
            block[..., edge] = 0
        gx_cn[..., q0 + shift : q1 + shift] += block.reshape(c, n, h * w)[..., q0:q1]
    return gx


def conv2d_grad_weight(x: np.ndarray, gy: np.ndarray, weight_shape: tuple[int, ...], stride: Pair = (1, 1),
                       padding: Pair = (0, 0), dilation: Pair = (1, 1), groups: int = 1,
                       columns: np.ndarray | None = None) -> np.ndarray:
    """Gradient of ``conv2d_forward`` with respect to its weights.

    The valid cross-correlation of the (padded) input with the upstream gradient,
    summed over the batch: ``gw[o, c, i, j] = sum_{n, oh, ow} gy[n, o, oh, ow] *
    x_padded[n, c, oh*sh + i*dh, ow*sw + j*dw]``. Computed as ``gy @ cols.T`` with
    the same column matrix as the forward pass (pass the forward's ``columns``
    to skip building it again); the sum over the batch and all output pixels is
    the inner dimension of that product.

    Args:
        x: input ``(N, C, H, W)``.
        gy: upstream gradient ``(N, O, OH, OW)``; its ``OH, OW`` decide how many
            windows are used.
        weight_shape: ``(O, C // groups, KH, KW)``.
        columns: the column matrix of ``x`` for these windows, if already built.

    Returns:
        ``gw`` of shape ``weight_shape``.
    """
    n, o, out_h, out_w = gy.shape
    _, c_per_group, kh, kw = weight_shape
    dtype = np.result_type(x.dtype, gy.dtype)
    _check_windows_fit("conv2d_grad_weight", x.shape[2:], (out_h, out_w), (kh, kw), stride, padding, dilation)
    g = groups
    if n == 0:  # a sum over an empty batch
        return np.zeros(weight_shape, dtype=dtype)

    rows = c_per_group * kh * kw
    sample_major = _sample_major(rows)
    if columns is None:
        columns = _im2col(x, (kh, kw), (out_h, out_w), stride, padding, dilation, dtype, sample_major)
    columns = columns.astype(dtype, copy=False)
    if sample_major:
        # (O/g, OH*OW) @ (OH*OW, rows) for each sample and group, summed over the batch.
        cols_by_sample = columns.reshape(n, g, rows, out_h * out_w)
        gy_by_sample = gy.reshape(n, g, o // g, out_h * out_w).astype(dtype, copy=False)
        per_sample = np.matmul(gy_by_sample, cols_by_sample.transpose(0, 1, 3, 2))
        return per_sample.sum(axis=0).reshape(weight_shape)
    cols = columns.reshape(g, rows, n * out_h * out_w)
    gy_mat = _channels_first(gy, "mat", dtype).reshape(g, o // g, n * out_h * out_w)

    # gw = gy @ cols.T per group, a sum over N*OH*OW. It is computed as the
    # transpose of cols @ gy.T, (C/g*KH*KW, N*OH*OW) @ (N*OH*OW, O/g): the same
    # product, but OpenBLAS splits this orientation between its threads in a way
    # that stays fast when another process competes for the cores (gy @ cols.T
    # then drops to a few percent of its normal speed). matmul reads gy.T in place.
    gw_t = np.matmul(cols, gy_mat.transpose(0, 2, 1))
    return np.ascontiguousarray(gw_t.transpose(0, 2, 1)).reshape(weight_shape)


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------


def _pool_out_hw(in_hw: Pair, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair) -> Pair:
    return (
        conv_output_size(in_hw[0], kernel[0], stride[0], padding[0], dilation[0]),
        conv_output_size(in_hw[1], kernel[1], stride[1], padding[1], dilation[1]),
    )


def _lowest(dtype: np.dtype) -> float | int:
    """The value padding takes in a max-pool: -inf, or the minimum of an integer type."""
    if np.issubdtype(dtype, np.floating):
        return -np.inf
    if dtype == np.bool_:
        return False
    return np.iinfo(dtype).min


def max_pool2d_forward(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair = (0, 0),
                       dilation: Pair = (1, 1)) -> tuple[np.ndarray, np.ndarray]:
    """Max over each window; padding counts as -inf.

    Returns ``(y, argmax)``: ``argmax[n, c, oh, ow]`` is the index ``i*KW + j`` of
    the winning tap inside its window, the *first* maximum in row-major window
    order (PyTorch's rule for ties). It is stored in the smallest unsigned type
    that fits ``KH*KW`` (uint8 for any kernel up to 16x16).

    The windows are ``KH*KW`` strided views of the input, one per tap, visited in
    window order (2x2 windows with stride 2 take a shortcut, `_max_pool_2x2`).
    When ``kernel == stride`` without padding no copy of the input is made at
    all. NaN propagates to ``y`` (``np.maximum``); the argmax of such a window
    is one of its taps (which one is not specified: the loss is NaN anyway).
    """
    kh, kw = kernel
    if kernel == (2, 2) and stride == (2, 2) and padding == (0, 0) and dilation == (1, 1):
        return _max_pool_2x2(x)  # the usual pool, in fewer passes
    out_hw = _pool_out_hw(x.shape[2:], kernel, stride, padding, dilation)
    if padding != (0, 0):
        x = _pad_spatial(x, padding, _lowest(x.dtype))

    y = np.array(_tap(x, 0, 0, out_hw, stride, dilation), order="C")
    index_type = np.min_scalar_type(kh * kw - 1).type
    argmax = np.zeros(y.shape, dtype=index_type)
    better = _scratch_array("mask", y.shape, bool)
    candidate = _scratch_array("index", y.shape, index_type)
    for k in range(1, kh * kw):
        window_k = _tap(x, k // kw, k % kw, out_hw, stride, dilation)
        # `better` marks windows where tap k beats every earlier tap (strictly,
        # so on a tie the earlier tap keeps the win). Taps come in increasing
        # order, so the winner is the last tap that was better: a running
        # maximum of k * better. (Arithmetic on the mask is several times faster
        # than a masked assignment such as np.copyto(..., where=better).)
        np.greater(window_k, y, out=better)
        np.multiply(better, index_type(k), out=candidate)
        np.maximum(argmax, candidate, out=argmax)
        np.maximum(y, window_k, out=y)
    return y, argmax


def _max_pool_2x2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`max_pool2d_forward` with 2x2 windows and stride 2, as a two-round tournament.

    Round 1 compares the left and right pixel of every window row, round 2 the
    winners of the top and bottom row. The first maximum in row-major order
    wins, as in the general kernel: a tie goes to the left pixel, and to the
    top row. Round 2 reads only half as much as round 1, so the whole takes
    fewer passes over memory than visiting the four taps one by one (on LeNet's
    first pool: 2.7 -> 2.3 ms in float32, 4.6 -> 3.3 ms in float64).
    """
    out_h, out_w = x.shape[2] // 2, x.shape[3] // 2
    x = x[:, :, : 2 * out_h, : 2 * out_w]  # an odd last row or column is in no window
    left, right = x[..., 0::2], x[..., 1::2]
    right_wins = np.greater(right, left)  # strictly greater: a tie stays with the left pixel
    row_max = np.maximum(left, right)
    top, bottom = row_max[:, :, 0::2], row_max[:, :, 1::2]
    bottom_wins = np.greater(bottom, top)
    y = np.maximum(top, bottom)
    # argmax = 2*row + column. The column comes from round 1 of the winning row:
    # top_right where the top row won, bottom_right where the bottom row won,
    # that is top_right ^ (bottom_wins & (top_right ^ bottom_right)) (no branch).
    top_right, bottom_right = right_wins[:, :, 0::2], right_wins[:, :, 1::2]
    column = np.bitwise_xor(top_right, bottom_right)
    column &= bottom_wins
    column ^= top_right
    row = bottom_wins.view(np.uint8)
    argmax = np.add(row, row)
    argmax += column.view(np.uint8)
    return y, argmax


def _windows_overlap(kernel: Pair, stride: Pair, dilation: Pair) -> bool:
    """Whether some input position can belong to two windows."""
    return any(dilation[a] * (kernel[a] - 1) + 1 > stride[a] for a in range(2))


def max_pool2d_backward(gy: np.ndarray, argmax: np.ndarray, input_shape: tuple[int, ...], kernel: Pair,
                        stride: Pair, padding: Pair = (0, 0), dilation: Pair = (1, 1)) -> np.ndarray:
    """Route each window's gradient to its argmax; overlapping windows add up.

    When no two windows overlap (the usual 2x2 pool with stride 2), every input
    position wins at most one window, so ``gy`` is written straight to the
    winners, one scatter ``gx.flat[winner] = gy`` (see `_winner_positions`).
    Otherwise, for each tap ``k`` the windows won by ``k`` send their gradient
    to the input position under that tap: ``gx[tap k] += gy * (argmax == k)``,
    ``KH*KW`` strided updates. (Multiplying by the 0/1 mask is much faster than
    a masked assignment, but a NaN or infinite ``gy`` entry would also put NaN,
    ``0 * inf``, on the other positions of its window, where PyTorch has 0: so
    a ``gy`` that is not all finite takes the masked assignment.)
    """
    kh, kw = kernel
    ph, pw = padding
    n, c, h, w = input_shape
    out_hw = gy.shape[2:]
    padded_shape = (n, c, h + 2 * ph, w + 2 * pw)
    gx = np.zeros(padded_shape, dtype=gy.dtype)
    if not _windows_overlap(kernel, stride, dilation):
        gx.reshape(-1)[_winner_positions(argmax, padded_shape, kernel, stride, dilation)] = gy.reshape(-1)
    else:
        won_by_k = _scratch_array("mask", gy.shape, bool)
        routed = _scratch_array("routed", gy.shape, gy.dtype)
        finite = bool(np.isfinite(gy).all())
        for k in range(kh * kw):
            np.equal(argmax, k, out=won_by_k)
            if finite:
                np.multiply(gy, won_by_k, out=routed)
            else:
                routed.fill(0)
                np.copyto(routed, gy, where=won_by_k)
            _tap(gx, k // kw, k % kw, out_hw, stride, dilation)[...] += routed
    if padding != (0, 0):
        gx = np.ascontiguousarray(gx[:, :, ph : ph + h, pw : pw + w])
    return gx


def _winner_positions(argmax: np.ndarray, padded_shape: tuple[int, ...], kernel: Pair, stride: Pair,
                      dilation: Pair) -> np.ndarray:
    """The flat index into the (padded) input of each window's winning tap.

    The index of window (n, c, oh, ow) is where the window starts,
    ``((n*C + c)*H + oh*sh)*W + ow*sw``, plus how far tap ``k = i*KW + j`` is
    from there, ``i*dh*W + j*dw``: a table of KH*KW offsets, read at argmax.
    """
    n, c, h, w = padded_shape
    out_h, out_w = argmax.shape[2:]
    kh, kw = kernel
    tap_offset = np.array([i * dilation[0] * w + j * dilation[1] for i in range(kh) for j in range(kw)], dtype=np.intp)
    index = tap_offset.take(argmax.reshape(n * c, out_h, out_w))
    window_start = np.arange(out_h, dtype=np.intp)[:, None] * (stride[0] * w) + np.arange(out_w) * stride[1]
    index += window_start
    index += np.arange(n * c, dtype=np.intp)[:, None, None] * (h * w)  # where each image plane starts
    return index.reshape(-1)


def max_pool2d_gather(g: np.ndarray, argmax: np.ndarray, kernel: Pair, stride: Pair,
                      padding: Pair = (0, 0), dilation: Pair = (1, 1)) -> np.ndarray:
    """Pick, for every window, the value of ``g`` (input-shaped) at the window's argmax.

    This is the adjoint of ``max_pool2d_backward`` (so the vector-Jacobian product
    needed for double backward), and ``max_pool2d_gather(x, argmax, ...)`` equals
    the pooled output ``y`` (for finite ``x``).
    """
    kw = kernel[1]
    out_hw = argmax.shape[2:]
    if padding != (0, 0):
        g = _pad_spatial(g, padding, 0)
    out = np.zeros(argmax.shape, dtype=g.dtype)
    won_by_k = _scratch_array("mask", argmax.shape, bool)
    picked = _scratch_array("routed", argmax.shape, g.dtype)
    for k in range(kernel[0] * kw):
        np.equal(argmax, k, out=won_by_k)
        np.multiply(_tap(g, k // kw, k % kw, out_hw, stride, dilation), won_by_k, out=picked)
        out += picked
    return out


def avg_pool2d_forward(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair = (0, 0)) -> np.ndarray:
    """Mean over each window; zero padding is counted in the mean (``count_include_pad=True``)."""
    kh, kw = kernel
    out_hw = _pool_out_hw(x.shape[2:], kernel, stride, padding, (1, 1))
    if padding != (0, 0):
        x = _pad_spatial(x, padding, 0)
    y = np.array(_tap(x, 0, 0, out_hw, stride, (1, 1)), order="C")
    for k in range(1, kh * kw):
        y += _tap(x, k // kw, k % kw, out_hw, stride, (1, 1))
    y *= 1.0 / (kh * kw)
    return y


def avg_pool2d_backward(gy: np.ndarray, input_shape: tuple[int, ...], kernel: Pair, stride: Pair,
                        padding: Pair = (0, 0)) -> np.ndarray:
    """Spread each window's gradient equally (``1 / (KH*KW)``) over its positions.

    This is the adjoint of ``avg_pool2d_forward``; overlapping windows add up and
    the share that falls on padding is dropped.
    """
    kh, kw = kernel
    ph, pw = padding
    n, c, h, w = input_shape
    share = gy * (1.0 / (kh * kw))
    gx = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=share.dtype)
    for k in range(kh * kw):
        _tap(gx, k // kw, k % kw, gy.shape[2:], stride, (1, 1))[...] += share
    if padding != (0, 0):
        gx = np.ascontiguousarray(gx[:, :, ph : ph + h, pw : pw + w])
    return gx
