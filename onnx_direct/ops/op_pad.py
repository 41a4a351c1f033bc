"""Pad: constant / reflect / edge / wrap, negative pads crop, pads and axes known or only at run time."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from onnx_direct import layout
from onnx_direct.context import Node, Unsupported, Value
from onnx_direct.ops import converter

_MODES = ("constant", "reflect", "edge", "wrap")


def _ints(node: Node, i: int) -> list[int] | tf.Tensor | None:
    """Integer input ``i``: Python ints when constant, an int64 vector otherwise, None when absent."""
    if not node.has_input(i):
        return None
    if node.is_const(i):
        return [int(v) for v in np.asarray(node.const(i)).reshape(-1)]
    return tf.reshape(tf.cast(node.tensor(i), tf.int64), [-1])


@converter("Pad", since=1)
def pad_with_attributes(node: Node) -> Value:
    pads = node.attr("pads", node.attr("paddings"))  # "paddings" in the first version
    return _pad(node, [int(p) for p in pads], None, float(node.attr("value", 0.0)))


@converter("Pad", since=11)
def pad_with_inputs(node: Node) -> Value:
    pads = _ints(node, 1)
    assert pads is not None
    value: float | np.ndarray | tf.Tensor = 0.0
    if node.has_input(2):
        value = node.const(2) if node.is_const(2) else node.tensor(2)
    axes = _ints(node, 3) if node.opset >= 18 else None
    return _pad(node, pads, axes, value)


def _pad(
    node: Node, pads: list[int] | tf.Tensor, axes: list[int] | tf.Tensor | None, value: float | np.ndarray | tf.Tensor
) -> Value:
    mode = str(node.attr("mode", "constant"))
    if mode not in _MODES:
        raise Unsupported(f"mode={mode!r}")
    data = node.value(0)
    perm = layout.identity(data.rank) if data.perm is None else data.perm
    x = node.tensor(0, data.perm)
    if isinstance(pads, list) and not isinstance(axes, tf.Tensor):
        pairs = _static_pairs(pads, axes, data.rank)
        return Value(_pad_static(x, [pairs[p] for p in perm], mode, value), data.perm)
    pairs_t = _dynamic_pairs(tf.constant(pads, tf.int64) if isinstance(pads, list) else pads, axes, data.rank)
    return Value(_pad_dynamic(x, tf.gather(pairs_t, perm), mode, value), data.perm)


def _static_pairs(pads: Sequence[int], axes: Sequence[int] | None, rank: int) -> list[tuple[int, int]]:
    """(begin, end) per ONNX axis."""
    axes = list(range(rank)) if axes is None else [layout.normalize_axis(a, rank) for a in axes]
    if len(pads) != 2 * len(axes):
        raise Unsupported(f"{len(pads)} pads for {len(axes)} axes")
    pairs = [(0, 0)] * rank
    for i, axis in enumerate(axes):
        pairs[axis] = (pads[i], pads[len(axes) + i])
    return pairs


def _dynamic_pairs(pads: tf.Tensor, axes: Sequence[int] | tf.Tensor | None, rank: int) -> tf.Tensor:
    """[rank, 2] (begin, end) per ONNX axis from run-time pads (and axes)."""
    half = tf.size(pads) // 2
    pairs = tf.stack([pads[:half], pads[half:]], axis=1)
    if axes is None:
        return tf.reshape(pairs, [rank, 2])
    axes_t = tf.cast(tf.convert_to_tensor(axes), tf.int64)
    axes_t = tf.where(axes_t < 0, axes_t + rank, axes_t)
    return tf.scatter_nd(axes_t[:, None], pairs, tf.constant([rank, 2], tf.int64))


def _source_indices(size: int, begin: int, end: int, mode: str) -> np.ndarray:
    """Which input element lands at each position of a padded axis (edge / wrap / reflect)."""
    index = np.arange(-begin, size + end)
    if mode == "edge":
        return np.clip(index, 0, size - 1)
    if mode == "wrap":
        return index % size
    period = max(2 * size - 2, 1)
    index = index % period
    return np.where(index >= size, period - index, index)


def _fill(value: float | np.ndarray | tf.Tensor, dtype: tf.DType) -> tf.Tensor | np.ndarray:
    """The constant-mode pad value as a scalar of ``dtype``."""
    if isinstance(value, tf.Tensor):
        return tf.cast(tf.reshape(value, []), dtype)
    return np.asarray(value).reshape(()).astype(dtype.as_numpy_dtype)


def _pad_static(
    x: tf.Tensor, pairs: list[tuple[int, int]], mode: str, value: float | np.ndarray | tf.Tensor
) -> tf.Tensor:
    """Pads known at conversion time: crop the negative ones, then pad with the positive ones."""
    if any(b < 0 or e < 0 for b, e in pairs):
        x = x[tuple(slice(max(-b, 0), e if e < 0 else None) for b, e in pairs)]
    grow = [(max(b, 0), max(e, 0)) for b, e in pairs]
    sizes = x.shape.as_list()
    if not any(b or e for b, e in grow):
        return x
    if mode == "constant":
        return tf.pad(x, grow, constant_values=_fill(value, x.dtype))
    if mode == "reflect" and all(
        n is not None and b < n and e < n for (b, e), n in zip(grow, sizes, strict=True) if b or e
    ):
        return tf.pad(x, grow, mode="REFLECT")
    for axis, ((begin, end), size) in enumerate(zip(grow, sizes, strict=True)):
        if begin or end:
            x = _pad_axis(x, axis, begin, end, mode, size)
    return x


def _pad_axis(x: tf.Tensor, axis: int, begin: int, end: int, mode: str, size: int | None) -> tf.Tensor:
    """Edge / wrap / reflect padding of one axis: slices and a concat where they do, else a gather."""
    prefix = (slice(None),) * axis
    if mode == "edge":
        first, last = x[(*prefix, slice(0, 1))], x[(*prefix, slice(-1, None))]
        return tf.concat([first] * begin + [x] + [last] * end, axis)
    if mode == "wrap" and size is not None and begin <= size and end <= size:
        head, tail = x[(*prefix, slice(size - begin, None))], x[(*prefix, slice(0, end))]
        return tf.concat([head, x, tail], axis)
    if size is None:
        index = _dynamic_source_indices(tf.shape(x, out_type=tf.int64)[axis], begin, end, mode)
        return tf.gather(x, index, axis=axis)
    return tf.gather(x, _source_indices(size, begin, end, mode), axis=axis)


def _pad_dynamic(x: tf.Tensor, pairs: tf.Tensor, mode: str, value: float | np.ndarray | tf.Tensor) -> tf.Tensor:
    """Pads known only at run time ([rank, 2] in stored order)."""
    begins, ends = pairs[:, 0], pairs[:, 1]
    shape = tf.shape(x, out_type=tf.int64)
    x = tf.slice(x, tf.maximum(-begins, 0), shape + tf.minimum(begins, 0) + tf.minimum(ends, 0))
    grow = tf.maximum(pairs, 0)
    if mode == "constant":
        return tf.pad(x, grow, constant_values=_fill(value, x.dtype))
    for axis in range(x.shape.rank):
        size = tf.shape(x, out_type=tf.int64)[axis]
        x = tf.gather(x, _dynamic_source_indices(size, grow[axis, 0], grow[axis, 1], mode), axis=axis)
    return x


def _dynamic_source_indices(size: tf.Tensor, begin: tf.Tensor, end: tf.Tensor, mode: str) -> tf.Tensor:
    """:func:`_source_indices` for sizes and pads known only at run time."""
    index = tf.range(-begin, size + end)
    if mode == "edge":
        return tf.clip_by_value(index, 0, size - 1)
    if mode == "wrap":
        return tf.math.floormod(index, size)
    period = tf.maximum(2 * size - 2, 1)
    index = tf.math.floormod(index, period)
    return tf.where(index >= size, period - index, index)
