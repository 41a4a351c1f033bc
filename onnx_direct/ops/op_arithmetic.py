"""Add, Sub, Mul, Div, Pow, Mod and the variadic Sum, Max, Min, Mean, with numpy broadcasting."""

from __future__ import annotations

from collections.abc import Callable
from functools import reduce

import numpy as np
import tensorflow as tf

from onnx_direct.context import Node, Value
from onnx_direct.ops import converter
from onnx_direct.ops._broadcast import Binary, aligned, binary


def _div(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    # ONNX integer Div truncates toward zero (C semantics); TF's floordiv rounds down.
    if a.dtype.is_integer:
        return tf.truncatediv(a, b)
    return tf.math.divide(a, b)


def _pow(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    # The exponent may have another type; compute in numpy's promoted type and return the base's type.
    common = tf.as_dtype(np.result_type(a.dtype.as_numpy_dtype, b.dtype.as_numpy_dtype))
    return tf.cast(tf.math.pow(tf.cast(a, common), tf.cast(b, common)), a.dtype)


def _fmod(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """C fmod: the remainder has the sign of the dividend."""
    if a.dtype.is_unsigned:  # both conventions agree on non-negative numbers
        return tf.math.floormod(a, b)
    if a.dtype in (tf.int8, tf.int16):  # TF's TruncateMod has no 8- or 16-bit kernels
        return tf.cast(tf.truncatemod(tf.cast(a, tf.int32), tf.cast(b, tf.int32)), a.dtype)
    return tf.truncatemod(a, b)


converter("Add", since=1)(binary(tf.math.add))
converter("Sub", since=1)(binary(tf.math.subtract))
converter("Mul", since=1)(binary(tf.math.multiply))
converter("Div", since=1)(binary(_div))
converter("Pow", since=1)(binary(_pow))


@converter("Mod", since=10)
def mod(node: Node) -> Value:
    # fmod=0: Python's % (sign of the divisor), for integers and, since opset 28, floats too
    (a, b), perm = aligned(node, [0, 1])
    return Value(_fmod(a, b) if node.attr("fmod", 0) else tf.math.floormod(a, b), perm)


def _variadic(fn: Binary) -> Callable[[Node], Value]:
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
