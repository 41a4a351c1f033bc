"""ConvTranspose: 1-3 spatial axes, groups, dilations, output_padding, output_shape, every auto_pad mode."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from onnx_direct import layout
from onnx_direct.context import Data, Node, Unsupported, Value
from onnx_direct.ops import converter
from onnx_direct.ops._padding import per_axis

Pads = tuple[list[int], list[int]]


def _full_sizes(in_sizes: list[int], kernel: list[int], strides: list[int], dilations: list[int]) -> list[int]:
    """Output sizes without any pads: every input pixel's whole kernel footprint."""
    return [s * (i - 1) + (k - 1) * d + 1 for i, k, s, d in zip(in_sizes, kernel, strides, dilations, strict=True)]


def _pads(node: Node, full: list[int], in_sizes: list[int], strides: list[int], out_padding: list[int]) -> Pads:
    """(begin, end) crops of the full output; negative ends extend it with zeros."""
    spatial = len(full)
    auto_pad = node.attr("auto_pad", "NOTSET")
    out_shape = node.attr("output_shape")
    if out_shape is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out_shape = [i * s for i, s in zip(in_sizes, strides, strict=True)]
    if out_shape is None:
        if auto_pad == "VALID":
            return [0] * spatial, [-p for p in out_padding]
        pads = [int(p) for p in node.attr("pads", [0] * 2 * spatial)]
        return pads[:spatial], [e - p for e, p in zip(pads[spatial:], out_padding, strict=True)]
    out_shape = [int(s) for s in out_shape][-spatial:]  # some exporters include N and C
    # The odd pixel goes to the end for SAME_UPPER and to the start otherwise (opset 11's rule; the
    # first version's text says the reverse, but runtimes apply the newer rule to old models too).
    small_first = auto_pad == "SAME_UPPER"
    begins, ends = [], []
    for size, want, extra in zip(full, out_shape, out_padding, strict=True):
        total = size + extra - want
        begin = 0 if total < 0 else total // 2 if small_first else total - total // 2
        begins.append(begin)  # total < 0: a larger output than the kernels cover, zeros at the end
        ends.append(total - begin - extra)
    return begins, ends


def _dilated(w: Data, dilations: list[int]) -> Data:
    """Spatial-first filters with dilation holes made explicit (TF's CPU kernel has no dilated transpose)."""
    if isinstance(w, np.ndarray):
        spread = np.zeros(
            [(k - 1) * d + 1 for k, d in zip(w.shape, dilations, strict=False)] + list(w.shape[-2:]), w.dtype
        )
        spread[tuple(slice(None, None, d) for d in dilations)] = w
        return spread
    for axis, d in enumerate(dilations):
        if d == 1:
            continue
        shape = w.shape.as_list()
        k = shape[axis]
        zeros_after = [[0, 0]] * (len(shape) + 1)
        zeros_after[axis + 1] = [0, d - 1]
        spread = tf.reshape(
            tf.pad(tf.expand_dims(w, axis + 1), zeros_after), [*shape[:axis], k * d, *shape[axis + 1 :]]
        )
        w = spread[(slice(None),) * axis + (slice(0, (k - 1) * d + 1),)]
    return w


def _crop(y: tf.Tensor, begins: list[int], ends: list[int]) -> tf.Tensor:
    """Cut ``begins``/``ends`` off each spatial axis; negative amounts append zeros instead."""
    grow = [[0, 0], *([max(-b, 0), max(-e, 0)] for b, e in zip(begins, ends, strict=True)), [0, 0]]
    if any(g for pair in grow for g in pair):
        y = tf.pad(y, grow)
    cut = [slice(max(b, 0), -e if e > 0 else None) for b, e in zip(begins, ends, strict=True)]
    return y[(slice(None), *cut, slice(None))]


@converter("ConvTranspose", since=1)
def conv_transpose(node: Node) -> Value:
    rank = node.rank(0)
    spatial = rank - 2
    if not 1 <= spatial <= 3:
        raise Unsupported(f"{spatial}-d transposed convolution")
    w_shape = node.static_shape(1)  # [C_in, C_out / group, k...]
    if any(size is None for size in node.shape(0)[2:]):
        raise Unsupported("ConvTranspose needs static spatial sizes; fix them with input_shape")
    in_sizes = [int(size) for size in node.shape(0)[2:]]  # type: ignore[arg-type]
    strides = per_axis(node, "strides", spatial)
    dilations = per_axis(node, "dilations", spatial)
    out_padding = [int(p) for p in node.attr("output_padding", [0] * spatial)][-spatial:]
    full = _full_sizes(in_sizes, w_shape[2:], strides, dilations)
    begins, ends = _pads(node, full, in_sizes, strides, out_padding)
    group = int(node.attr("group", 1))
    # filters in TF order: spatial..., out/group, in
    w_perm = (*range(2, rank), 1, 0)
    w = np.transpose(node.const(1), w_perm) if node.is_const(1) else node.tensor(1, w_perm)
    w = _dilated(w, dilations)
    y = _grouped_transpose(node.channels_last(0), w, group, full, strides)
    y = _crop(y, begins, ends)
    if node.has_input(2):
        y = tf.nn.bias_add(y, node.tensor(2))
    return Value(y, layout.channels_last(rank))


def _grouped_transpose(x: tf.Tensor, w: tf.Tensor, group: int, full: list[int], strides: list[int]) -> tf.Tensor:
    xs = tf.split(x, group, axis=-1) if group > 1 else [x]
    ws = tf.split(w, group, axis=-1) if group > 1 else [w]
    batch = x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]
    ys = [
        tf.nn.conv_transpose(xi, wi, [batch, *full, wi.shape[-2]], strides=strides, padding="VALID")
        for xi, wi in zip(xs, ws, strict=True)
    ]
    return ys[0] if group == 1 else tf.concat(ys, axis=-1)
