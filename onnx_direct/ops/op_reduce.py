"""Reduce* and ArgMax/ArgMin over the stored axes.

With keepdims the result keeps the input's layout; without it the reduced axes disappear from the
stored tensor and ``layout.after_removing`` gives the layout of what is left.  Axes are an attribute
before opset 13 (ReduceSum) or 18 (the others), an input from then on; empty axes with
``noop_with_empty_axes`` reduce over nothing (the element-wise part still applies, as in onnx.reference).
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from onnx_direct import layout
from onnx_direct.context import Node, Value
from onnx_direct.ops import converter
from onnx_direct.ops._axes import axes_arg, dynamic_normalized, dynamic_stored_axes, normalized, stored_axes

Reducer = Callable[[tf.Tensor, list[int] | tf.Tensor, bool], tf.Tensor]


def _max(x: tf.Tensor, axes: list[int] | tf.Tensor, keep: bool) -> tf.Tensor:
    if x.dtype == tf.bool:  # False < True
        return tf.reduce_any(x, axis=axes, keepdims=keep)
    return tf.reduce_max(x, axis=axes, keepdims=keep)


def _min(x: tf.Tensor, axes: list[int] | tf.Tensor, keep: bool) -> tf.Tensor:
    if x.dtype == tf.bool:
        return tf.reduce_all(x, axis=axes, keepdims=keep)
    return tf.reduce_min(x, axis=axes, keepdims=keep)


def _l2(x: tf.Tensor, axes: list[int] | tf.Tensor, keep: bool) -> tf.Tensor:
    if x.dtype.is_floating:
        return tf.sqrt(tf.reduce_sum(tf.square(x), axis=axes, keepdims=keep))
    # Integer input: the root is taken in floating point and truncated back, as onnx.reference does.
    wide = tf.cast(x, tf.float64)
    return tf.cast(tf.sqrt(tf.reduce_sum(tf.square(wide), axis=axes, keepdims=keep)), x.dtype)


_REDUCERS: dict[str, tuple[Reducer, int]] = {
    "ReduceSum": (lambda x, a, k: tf.reduce_sum(x, axis=a, keepdims=k), 13),
    "ReduceMean": (lambda x, a, k: tf.reduce_mean(x, axis=a, keepdims=k), 18),
    "ReduceMax": (_max, 18),
    "ReduceMin": (_min, 18),
    "ReduceProd": (lambda x, a, k: tf.reduce_prod(x, axis=a, keepdims=k), 18),
    "ReduceL1": (lambda x, a, k: tf.reduce_sum(tf.abs(x), axis=a, keepdims=k), 18),
    "ReduceL2": (_l2, 18),
    "ReduceLogSum": (lambda x, a, k: tf.math.log(tf.reduce_sum(x, axis=a, keepdims=k)), 18),
    "ReduceLogSumExp": (lambda x, a, k: tf.reduce_logsumexp(x, axis=a, keepdims=k), 18),
    "ReduceSumSquare": (lambda x, a, k: tf.reduce_sum(tf.square(x), axis=a, keepdims=k), 18),
}


def _reduce_converter(reducer: Reducer, input_since: int) -> Callable[[Node], Value]:
    def convert(node: Node) -> Value:
        value = node.value(0)
        rank = value.rank
        keep = bool(node.attr("keepdims", 1))
        axes = axes_arg(node, input_since)
        if axes is None or (isinstance(axes, list) and not axes):
            noop = node.opset >= input_since and bool(node.attr("noop_with_empty_axes", 0))
            axes = [] if noop else list(range(rank))
        if isinstance(axes, tf.Tensor):
            return _dynamic_reduce(node, reducer, axes, keep)
        axes = normalized(axes, rank)
        x = node.tensor(0, value.perm)
        y = reducer(x, stored_axes(value.perm, axes), keep)
        return Value(y, value.perm if keep else layout.after_removing(value.perm, axes, rank)[0])

    return convert


def _dynamic_reduce(node: Node, reducer: Reducer, axes: tf.Tensor, keep: bool) -> Value:
    """Axes known only at run time: kept axes keep the layout; dropped ones need ONNX order."""
    value = node.value(0)
    if keep:
        stored = dynamic_stored_axes(value.perm, axes, value.rank)
        return Value(reducer(node.tensor(0, value.perm), stored, True), value.perm)
    y = reducer(node.tensor(0), dynamic_normalized(axes, value.rank), False)
    y.set_shape([None] * (value.rank - int(axes.shape[0])))
    return Value(y)


for _op, (_reducer, _since) in _REDUCERS.items():
    converter(_op, since=1)(_reduce_converter(_reducer, _since))


def _arg_converter(fn: Callable[..., tf.Tensor]) -> Callable[[Node], Value]:
    def convert(node: Node) -> Value:
        value = node.value(0)
        axis = layout.normalize_axis(int(node.attr("axis", 0)), value.rank)
        stored = layout.stored_axis(value.perm, axis)
        x = node.tensor(0, value.perm)
        last = bool(node.attr("select_last_index", 0))
        if last:  # the first extreme of the reversed axis is the last one of the original
            x = tf.reverse(x, [stored])
        y = fn(x, axis=stored, output_type=tf.int64)
        if last:
            y = tf.cast(tf.shape(x)[stored], tf.int64) - 1 - y
        if node.attr("keepdims", 1):
            return Value(tf.expand_dims(y, stored), value.perm)
        return Value(y, layout.after_removing(value.perm, [axis], value.rank)[0])

    return convert


converter("ArgMax", since=1)(_arg_converter(tf.math.argmax))
converter("ArgMin", since=1)(_arg_converter(tf.math.argmin))
