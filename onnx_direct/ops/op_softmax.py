"""Softmax, LogSoftmax, Hardmax on the stored axes.

Before opset 13 the input is coerced to 2-D at ``axis``: the op runs jointly over axes ``axis..rank-1``.
tf.nn.softmax on an axis other than the last transposes internally, so that case (and the joint
case) is written out with reductions over the stored axes instead.
"""

from __future__ import annotations

import tensorflow as tf

from onnx_direct import layout
from onnx_direct.context import Node, Value
from onnx_direct.ops import converter
from onnx_direct.ops._axes import stored_axes


def _onnx_axes(node: Node) -> list[int]:
    rank = node.rank(0)
    axis = layout.normalize_axis(int(node.attr("axis", -1 if node.opset >= 13 else 1)), rank)
    return [axis] if node.opset >= 13 else list(range(axis, rank))


def _inputs(node: Node) -> tuple[tf.Tensor, list[int], Value]:
    """The input as stored, the stored axes the op runs over, and the input value."""
    value = node.value(0)
    return node.tensor(0, value.perm), stored_axes(value.perm, _onnx_axes(node)), value


def _shifted(x: tf.Tensor, axes: list[int]) -> tf.Tensor:
    return x - tf.reduce_max(x, axis=axes, keepdims=True)


@converter("Softmax", since=1)
def softmax(node: Node) -> Value:
    x, axes, value = _inputs(node)
    if axes == [value.rank - 1]:
        return Value(tf.nn.softmax(x, axis=-1), value.perm)
    e = tf.exp(_shifted(x, axes))
    return Value(e / tf.reduce_sum(e, axis=axes, keepdims=True), value.perm)


@converter("LogSoftmax", since=1)
def log_softmax(node: Node) -> Value:
    x, axes, value = _inputs(node)
    if axes == [value.rank - 1]:
        return Value(tf.nn.log_softmax(x, axis=-1), value.perm)
    s = _shifted(x, axes)
    return Value(s - tf.math.log(tf.reduce_sum(tf.exp(s), axis=axes, keepdims=True)), value.perm)


@converter("Hardmax", since=1)
def hardmax(node: Node) -> Value | tf.Tensor:
    """One-hot of the first maximum."""
    x, axes, value = _inputs(node)
    if len(axes) == 1:
        depth = x.shape[axes[0]] if x.shape[axes[0]] is not None else tf.shape(x)[axes[0]]
        return Value(tf.one_hot(tf.argmax(x, axis=axes[0]), depth, axis=axes[0], dtype=x.dtype), value.perm)
    # Several axes (opset < 13): flatten them in ONNX order, which defines "first".
    x = node.tensor(0)
    shape = tf.shape(x)
    flat = tf.reshape(x, tf.stack([-1, tf.reduce_prod(shape[_onnx_axes(node)[0] :])]))
    hot = tf.one_hot(tf.argmax(flat, axis=1), tf.shape(flat)[1], dtype=x.dtype)
    return tf.reshape(hot, shape)
