"""Expand, Tile, TopK, CumSum, NonZero, Trilu."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from onnx_direct import layout
from onnx_direct.context import Node, Value
from onnx_direct.ops import converter
from onnx_direct.ops._axes import dynamic_stored_axes, int_input, perm_or_identity, scalar_input


# Expand / Tile ----------------------------------------------------------------------------------
@converter("Expand", since=8)
def expand(node: Node) -> Value | tf.Tensor:
    """Bidirectional broadcast to a shape; new leading axes go to the end of the stored tensor."""
    value = node.value(0)
    shape = int_input(node, 1)
    in_shape = value.onnx_shape
    if isinstance(shape, tf.Tensor) or None in in_shape:
        x = node.tensor(0)
        target = tf.cast(node.tensor(1), tf.int64)
        return tf.broadcast_to(x, tf.broadcast_dynamic_shape(tf.shape(x, out_type=tf.int64), target))
    out = [int(d) for d in np.broadcast_shapes(tuple(in_shape), tuple(shape))]  # type: ignore[arg-type]
    x = node.tensor(0, value.perm)
    new = len(out) - value.rank
    if layout.is_identity(value.perm):
        return Value(tf.broadcast_to(x, out))
    perm = layout.after_inserting(value.perm, range(new), len(out))
    x = tf.reshape(x, value.stored_shape + [1] * new) if new else x
    return Value(tf.broadcast_to(x, [out[p] for p in perm]), perm)


@converter("Tile", since=6)
def tile(node: Node) -> Value:
    value = node.value(0)
    repeats = int_input(node, 1)
    perm = perm_or_identity(value)
    if isinstance(repeats, tf.Tensor):
        stored = tf.gather(repeats, perm)
    else:
        assert repeats is not None
        stored = [repeats[p] for p in perm]
    return Value(tf.tile(node.tensor(0, value.perm), stored), value.perm)


# TopK -------------------------------------------------------------------------------------------
@converter("TopK", since=1)
def top_k(node: Node) -> list[Value]:
    """tf.math.top_k works on the last stored axis; ties keep the lower index first, as ONNX wants."""
    value = node.value(0)
    rank = value.rank
    axis = layout.normalize_axis(int(node.attr("axis", -1)), rank)
    k = node.attr("k") if node.opset < 10 else scalar_input(node, 1)
    perm = perm_or_identity(value)
    x = node.tensor(0, value.perm)
    stored = perm.index(axis)
    if stored != rank - 1:  # move the axis last; the results stay stored that way
        order = [j for j in range(rank) if j != stored] + [stored]
        x, perm = tf.transpose(x, order), tuple(perm[j] for j in order)
    keys = x if node.attr("largest", 1) else _descending(x)
    _, indices = tf.math.top_k(keys, tf.cast(k, tf.int32), sorted=True, index_type=tf.int64)
    values = tf.gather(x, indices, batch_dims=rank - 1)
    return [Value(values, perm), Value(indices, perm)]


def _descending(x: tf.Tensor) -> tf.Tensor:
    """Keys whose largest are ``x``'s smallest (bitwise NOT for integers: no overflow at the minimum)."""
    if x.dtype.is_integer:
        return tf.bitwise.invert(x)
    return -x


# CumSum -----------------------------------------------------------------------------------------
@converter("CumSum", since=11)
def cumsum(node: Node) -> Value:
    value = node.value(0)
    axis = scalar_input(node, 1)
    if isinstance(axis, int):
        stored: int | tf.Tensor = layout.stored_axis(value.perm, layout.normalize_axis(axis, value.rank))
    else:
        stored = dynamic_stored_axes(value.perm, axis, value.rank)
    exclusive, reverse = bool(node.attr("exclusive", 0)), bool(node.attr("reverse", 0))
    y = tf.math.cumsum(node.tensor(0, value.perm), axis=stored, exclusive=exclusive, reverse=reverse)
    return Value(y, value.perm)


# NonZero / Trilu --------------------------------------------------------------------------------
@converter("NonZero", since=9)
def non_zero(node: Node) -> tf.Tensor:
    """Indices of the non-zero elements in ONNX row-major order, one row per axis."""
    x = node.tensor(0)
    mask = x if x.dtype == tf.bool else tf.not_equal(x, tf.zeros([], x.dtype))
    return tf.transpose(tf.where(mask))


@converter("Trilu", since=14)
def trilu(node: Node) -> Value:
    """Keep the elements with column - row >= k (upper) or <= k (lower) of the last two ONNX axes."""
    value = node.value(0)
    k = scalar_input(node, 1) if node.has_input(1) else 0
    rows, cols = value.onnx_shape[-2:]
    perm = value.perm
    if rows is None or cols is None:
        perm = None
        shape = tf.shape(node.tensor(0), out_type=tf.int64)
        offsets = tf.range(shape[-1])[None, :] - tf.range(shape[-2])[:, None]
    else:
        offsets = _stored_offsets(int(rows), int(cols), perm_or_identity(value))
    keep = tf.greater_equal(offsets, k) if node.attr("upper", 1) else tf.less_equal(offsets, k)
    x = node.tensor(0, perm)
    return Value(tf.where(keep, x, tf.zeros([], x.dtype)), perm)


def _stored_offsets(rows: int, cols: int, perm: tuple[int, ...]) -> np.ndarray:
    """column - row for every element, shaped to broadcast against the data stored with ``perm``."""
    rank = len(perm)
    offsets = np.arange(cols, dtype=np.int64)[None, :] - np.arange(rows, dtype=np.int64)[:, None]
    full = offsets.reshape((1,) * (rank - 2) + offsets.shape)
    return np.transpose(full, perm)
