"""Slice, Gather, GatherElements, GatherND.

ONNX Slice clamps starts and ends exactly like Python slicing, which is also what tf.strided_slice
does, so the values pass through unchanged (as int64, for the INT64_MAX / INT64_MIN sentinels).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from onnx_direct import layout
from onnx_direct.context import Node, Value
from onnx_direct.layout import Perm
from onnx_direct.ops import converter
from onnx_direct.ops._axes import Ints, dynamic_stored_axes, int_input, normalized, perm_or_identity, stored_axes

_INT64_MAX = np.iinfo(np.int64).max


# Slice ------------------------------------------------------------------------------------------
@converter("Slice", since=1)
def slice_(node: Node) -> Value:
    value = node.value(0)
    if node.opset < 10:
        args: list[Ints | None] = [node.attr("starts"), node.attr("ends"), node.attr("axes"), None]
    else:
        args = [int_input(node, i) for i in range(1, 5)]
    starts, ends, axes, steps = args
    assert starts is not None and ends is not None
    x = node.tensor(0, value.perm)
    if not any(isinstance(a, tf.Tensor) for a in args):
        return Value(_static_slice(x, value.perm, starts, ends, axes, steps), value.perm)
    return Value(_dynamic_slice(x, value.perm, starts, ends, axes, steps), value.perm)


def _static_slice(
    x: tf.Tensor, perm: Perm | None, starts: list[int], ends: list[int], axes: list[int] | None, steps: list[int] | None
) -> tf.Tensor:
    rank = x.shape.rank
    axes = normalized(axes if axes is not None else range(len(starts)), rank)
    steps = steps if steps is not None else [1] * len(starts)
    begin, end, strides = [0] * rank, [0] * rank, [1] * rank
    full = (1 << rank) - 1  # begin/end masks: every axis not sliced is taken whole
    for a, s, e, st in zip(stored_axes(perm, axes), starts, ends, steps, strict=True):
        begin[a], end[a], strides[a] = _clamp64(s), _clamp64(e), int(st)
        full &= ~(1 << a)
    args = [np.array(v, np.int64) for v in (begin, end, strides)]
    return tf.strided_slice(x, *args, begin_mask=full, end_mask=full)


def _clamp64(v: int) -> int:
    return int(np.clip(int(v), np.iinfo(np.int64).min, _INT64_MAX))


def _dynamic_slice(
    x: tf.Tensor, perm: Perm | None, starts: Ints, ends: Ints, axes: Ints | None, steps: Ints | None
) -> tf.Tensor:
    """Slice with run-time starts/ends/axes/steps: full-rank begin/end/strides scattered at the stored axes."""
    rank = x.shape.rank
    starts_t, ends_t = _as_tensor(starts), _as_tensor(ends)
    count = int(starts_t.shape[0])
    axes_t = _as_tensor(axes if axes is not None else list(range(count)))
    where = dynamic_stored_axes(perm, axes_t, rank)[:, None]
    steps_t = _as_tensor(steps if steps is not None else [1] * count)
    begin = tf.tensor_scatter_nd_update(tf.zeros([rank], tf.int64), where, starts_t)
    end = tf.tensor_scatter_nd_update(tf.fill([rank], tf.constant(_INT64_MAX, tf.int64)), where, ends_t)
    strides = tf.tensor_scatter_nd_update(tf.ones([rank], tf.int64), where, steps_t)
    y = tf.strided_slice(x, begin, end, strides)
    y.set_shape([None] * rank)  # no axis is dropped, though TF cannot tell from run-time begin/end
    return y


def _as_tensor(values: Ints) -> tf.Tensor:
    if isinstance(values, tf.Tensor):
        return values
    return tf.constant(np.array([_clamp64(v) for v in values], np.int64).reshape(-1))


# Gather -----------------------------------------------------------------------------------------
@converter("Gather", since=1)
def gather(node: Node) -> Value:
    value = node.value(0)
    axis = layout.normalize_axis(int(node.attr("axis", 0)), value.rank)
    perm = perm_or_identity(value)
    stored = perm.index(axis)
    x = node.tensor(0, value.perm)
    indices = _positive_indices(node, 1, x, [stored])
    extra = node.rank(1) - 1  # the indices' axes replace the gathered axis

    def shifted(p: int) -> int:
        return p if p < axis else p + extra

    out_perm = (
        *(shifted(p) for p in perm[:stored]),
        *range(axis, axis + extra + 1),
        *(shifted(p) for p in perm[stored + 1 :]),
    )
    return Value(tf.gather(x, indices, axis=stored), out_perm)


def _positive_indices(node: Node, i: int, x: tf.Tensor, stored: list[int], perm: Perm | None = None) -> tf.Tensor:
    """Index input ``i`` (stored with ``perm``) with negative entries wrapped by the sizes of ``x``'s axes ``stored``.

    With several axes (GatherND) the last index axis runs over them.
    """
    indices = node.tensor(i, perm)
    sizes = [x.shape[a] for a in stored]
    if any(s is None for s in sizes):
        dims = tf.gather(tf.shape(x, out_type=indices.dtype), stored)
    else:
        dims = tf.constant(sizes, indices.dtype)
    dims = dims[0] if len(stored) == 1 else dims
    return tf.where(indices < 0, indices + dims, indices)


@converter("GatherElements", since=11)
def gather_elements(node: Node) -> Value:
    """out[..., i_axis, ...] = data[..., indices[...], ...], computed in the data's stored layout."""
    value = node.value(0)
    axis = layout.normalize_axis(int(node.attr("axis", 0)), value.rank)
    stored = layout.stored_axis(value.perm, axis)
    x = node.tensor(0, value.perm)
    indices = tf.cast(_positive_indices(node, 1, x, [stored], value.perm), tf.int64)
    shape = tf.shape(indices, out_type=tf.int64)
    grids = tf.meshgrid(*[tf.range(shape[a]) for a in range(value.rank)], indexing="ij")
    grids[stored] = indices
    return Value(tf.gather_nd(x, tf.stack(grids, axis=-1)), value.perm)


@converter("GatherND", since=11)
def gather_nd(node: Node) -> tf.Tensor:
    batch_dims = int(node.attr("batch_dims", 0))
    x = node.tensor(0)
    depth = node.shape(1)[-1]
    if depth is None:
        indices = node.tensor(1)
    else:
        indices = _positive_indices(node, 1, x, list(range(batch_dims, batch_dims + int(depth))))
    return tf.gather_nd(x, indices, batch_dims=batch_dims)
