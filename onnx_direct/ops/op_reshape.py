"""Reshape, Flatten, Transpose, Squeeze, Unsqueeze: shape changes that keep the stored layout where they can.

A Reshape only needs ONNX order when it merges or splits axes that the stored layout keeps apart
or reorders; otherwise the stored data is reshaped directly and the result keeps a matching layout
(e.g. NCHW -> [N, C, H*W] of a channels-last tensor is a plain reshape of NHWC to [N, H*W, C]).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from onnx_direct import layout
from onnx_direct.context import Node, Unsupported, Value
from onnx_direct.layout import Perm
from onnx_direct.ops import converter
from onnx_direct.ops._axes import (
    axes_arg,
    dynamic_normalized,
    int_input,
    normalized,
)

Shape = list[int | None]
Group = tuple[list[int], list[int]]


# Reshape ----------------------------------------------------------------------------------------
@converter("Reshape", since=1)
def reshape(node: Node) -> Value | tf.Tensor:
    allowzero = bool(node.attr("allowzero", 0))
    shape = int_input(node, 1) if node.has_input(1) else [int(s) for s in node.attr("shape")]
    assert shape is not None
    if isinstance(shape, tf.Tensor):
        return _dynamic_reshape(node.tensor(0), shape, allowzero)
    target = resolve_target(node.shape(0), shape, allowzero)
    if sum(d is None for d in target) > 1:
        return _dynamic_reshape(node.tensor(0), tf.constant(shape, tf.int64), allowzero)
    return reshape_value(node, 0, target)


def resolve_target(in_shape: Shape, shape: Sequence[int], allowzero: bool) -> Shape:
    """The output shape of Reshape (0 copies an input dimension unless ``allowzero``; one -1 is inferred)."""
    out: Shape = [in_shape[k] if s == 0 and not allowzero else s for k, s in enumerate(shape)]
    if -1 not in out:
        return out
    k = out.index(-1)
    # Dimensions copied from the input with 0 cancel out, even when unknown.
    copied = {j for j, s in enumerate(shape) if s == 0 and not allowzero}
    rest_in = [d for j, d in enumerate(in_shape) if j not in copied]
    rest_out = [d for j, d in enumerate(out) if j not in copied and j != k]
    if None in rest_in or None in rest_out:
        out[k] = None
    else:
        known = math.prod(rest_out)  # type: ignore[arg-type]
        out[k] = math.prod(rest_in) // known if known else 0  # type: ignore[arg-type]
    return out


def _dynamic_reshape(x: tf.Tensor, shape: tf.Tensor, allowzero: bool) -> tf.Tensor:
    """Reshape ``x`` (ONNX order) to a shape only known at run time."""
    shape = tf.cast(shape, tf.int64)
    if not allowzero:
        n = int(shape.shape[0])
        dims = tf.shape(x, out_type=tf.int64)
        padded = tf.concat([dims, tf.zeros([max(n - x.shape.rank, 0)], tf.int64)], 0)[:n]
        shape = tf.where(tf.equal(shape, 0), padded, shape)
    return tf.reshape(x, shape)


def reshape_value(node: Node, i: int, target: Shape) -> Value:
    """Input ``i`` reshaped to ``target`` (ONNX order, at most one unknown dimension)."""
    value = node.value(i)
    if not layout.is_identity(value.perm):
        assert value.perm is not None
        out_perm = reshape_perm(value.onnx_shape, target, value.perm)
        if out_perm is not None:
            stored = [target[a] for a in out_perm]
            return Value(tf.reshape(value.data, [-1 if d is None else d for d in stored]), out_perm)
    return Value(tf.reshape(node.tensor(i), [-1 if d is None else d for d in target]))


def reshape_perm(in_shape: Shape, out_shape: Shape, perm: Perm) -> Perm | None:
    """The layout in which a reshape of data stored with ``perm`` is a plain reshape, if there is one."""
    groups = _groups(in_shape, out_shape)
    if groups is None:
        return None
    moving = [a for a in perm if in_shape[a] != 1]  # unit axes may sit anywhere
    placed: list[tuple[int, list[int]]] = []
    units: list[int] = []
    for ins, outs in groups:
        real = [a for a in ins if in_shape[a] != 1]
        if not real:
            units.extend(outs)
            continue
        start = moving.index(real[0])
        if moving[start : start + len(real)] != real:
            return None
        placed.append((start, outs))
    return tuple(a for _, outs in sorted(placed) for a in outs) + tuple(units)


def _groups(in_shape: Shape, out_shape: Shape) -> list[Group] | None:
    """Split a reshape into runs of input axes and output axes with equal sizes (None: no such split)."""
    groups: list[Group] = []
    i = j = 0
    while i < len(in_shape) or j < len(out_shape):
        if i < len(in_shape) and j < len(out_shape) and in_shape[i] is None and out_shape[j] is None:
            group: Group | None = ([i], [j])  # an unknown dimension passed through unchanged
        else:
            group = _next_group(in_shape[i:], out_shape[j:])
        if group is None:
            return None
        groups.append(([i + a for a in group[0]], [j + b for b in group[1]]))
        i, j = i + len(group[0]), j + len(group[1])
    return groups


def _next_group(in_shape: Shape, out_shape: Shape) -> Group | None:
    """The shortest leading runs of both shapes (one axis at least from each non-empty side) of equal size."""
    n_in = n_out = 0
    size_in = size_out = 1
    while True:
        if n_in < len(in_shape) and (n_in == 0 or size_in < size_out):
            dim, n_in = in_shape[n_in], n_in + 1
            if dim is None:
                return None
            size_in *= dim
        elif n_out < len(out_shape) and (n_out == 0 or size_out < size_in):
            dim, n_out = out_shape[n_out], n_out + 1
            if dim is None:
                return None
            size_out *= dim
        else:
            break
    if size_in != size_out or size_in == 0:
        return None
    return list(range(n_in)), list(range(n_out))


# Flatten ----------------------------------------------------------------------------------------
@converter("Flatten", since=1)
def flatten(node: Node) -> Value | tf.Tensor:
    shape = node.shape(0)
    axis = int(node.attr("axis", 1))
    axis = axis + len(shape) if axis < 0 else axis  # range [-rank, rank]: -1 leaves the last axis alone
    head, tail = shape[:axis], shape[axis:]
    target: Shape = [
        None if None in head else math.prod(head),  # type: ignore[arg-type]
        None if None in tail else math.prod(tail),  # type: ignore[arg-type]
    ]
    if target.count(None) <= 1:
        return reshape_value(node, 0, target)
    x = node.tensor(0)
    return tf.reshape(x, tf.stack([tf.reduce_prod(tf.shape(x, out_type=tf.int64)[:axis]), -1]))


# Transpose --------------------------------------------------------------------------------------
@converter("Transpose", since=1)
def transpose(node: Node) -> Value | np.ndarray:
    """Free: the stored data stays as it is, only its recorded layout changes."""
    value = node.value(0)
    onnx_perm = [int(p) for p in node.attr("perm", list(reversed(range(value.rank))))]
    if isinstance(value.data, np.ndarray):
        return np.transpose(value.data, onnx_perm)
    return Value(value.data, layout.after_transpose(value.perm, onnx_perm))


# Squeeze / Unsqueeze ----------------------------------------------------------------------------
@converter("Squeeze", since=1)
def squeeze(node: Node) -> Value | tf.Tensor:
    value = node.value(0)
    rank = value.rank
    axes = axes_arg(node, input_since=13)
    if isinstance(axes, tf.Tensor):
        return _dynamic_squeeze(node.tensor(0), axes, int(axes.shape[0]))
    if axes is None:
        shape = node.shape(0)
        if None in shape:
            raise Unsupported(f"Squeeze without axes needs a static input shape, got {shape}")
        axes = [a for a, d in enumerate(shape) if d == 1]
    new_perm, removed = layout.after_removing(value.perm, normalized(axes, rank), rank)
    if not removed:
        return value
    return Value(tf.squeeze(node.tensor(0, value.perm), removed), new_perm)


def _dynamic_squeeze(x: tf.Tensor, axes: tf.Tensor, count: int) -> tf.Tensor:
    rank = x.shape.rank
    gone = tf.equal(tf.range(rank, dtype=tf.int64)[:, None], dynamic_normalized(axes, rank)[None, :])
    shape = tf.boolean_mask(tf.shape(x, out_type=tf.int64), tf.logical_not(tf.reduce_any(gone, axis=1)))
    y = tf.reshape(x, shape)
    y.set_shape([None] * (rank - count))
    return y


@converter("Unsqueeze", since=1)
def unsqueeze(node: Node) -> Value | tf.Tensor:
    value = node.value(0)
    axes = axes_arg(node, input_since=13)
    if axes is None:
        raise Unsupported("Unsqueeze without axes")
    if isinstance(axes, tf.Tensor):
        return _dynamic_unsqueeze(node.tensor(0), axes, int(axes.shape[0]))
    out_rank = value.rank + len(axes)
    axes = sorted(normalized(axes, out_rank))
    x = node.tensor(0, value.perm)
    if layout.is_identity(value.perm):
        return Value(_with_units(x, axes))
    # New unit axes go to the end of the stored tensor, so the existing axes stay where they are.
    return Value(_with_units(x, list(range(value.rank, out_rank))), layout.after_inserting(value.perm, axes, out_rank))


def _with_units(x: tf.Tensor, positions: list[int]) -> tf.Tensor:
    """``x`` with unit axes at output ``positions`` (sorted)."""
    shape: Shape = list(x.shape.as_list())
    for p in positions:
        shape.insert(p, 1)
    if shape.count(None) <= 1:
        return tf.reshape(x, [-1 if d is None else d for d in shape])
    for p in positions:
        x = tf.expand_dims(x, p)
    return x


def _dynamic_unsqueeze(x: tf.Tensor, axes: tf.Tensor, count: int) -> tf.Tensor:
    out_rank = x.shape.rank + count
    positions = tf.range(out_rank, dtype=tf.int64)
    new = tf.reduce_any(tf.equal(positions[:, None], dynamic_normalized(axes, out_rank)[None, :]), axis=1)
    source = tf.maximum(tf.cumsum(tf.cast(tf.logical_not(new), tf.int64)) - 1, 0)
    dims = tf.concat([tf.shape(x, out_type=tf.int64), [1]], 0)  # the padding keeps a rank-0 gather in range
    shape = tf.where(new, tf.ones([out_rank], tf.int64), tf.gather(dims, source))
    y = tf.reshape(x, shape)
    y.set_shape([None] * out_rank)
    return y
