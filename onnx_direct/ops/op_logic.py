"""Comparisons, boolean logic, Where, IsNaN/IsInf and BitShift: element-wise, layout kept."""

from __future__ import annotations

import tensorflow as tf

from onnx_direct.context import Node, Unsupported, Value, keep_layout
from onnx_direct.ops import converter
from onnx_direct.ops._broadcast import aligned, binary, unary

converter("Equal", since=1)(binary(tf.math.equal))
converter("Less", since=1)(binary(tf.math.less))
converter("Greater", since=1)(binary(tf.math.greater))
converter("LessOrEqual", since=12)(binary(tf.math.less_equal))
converter("GreaterOrEqual", since=12)(binary(tf.math.greater_equal))
converter("And", since=1)(binary(tf.math.logical_and))
converter("Or", since=1)(binary(tf.math.logical_or))
converter("Xor", since=1)(binary(tf.math.logical_xor))


converter("Not", since=1)(unary(tf.math.logical_not))


@converter("Where", since=9)
def where(node: Node) -> Value:
    (condition, x, y), perm = aligned(node, [0, 1, 2])
    return Value(tf.where(condition, x, y), perm)


converter("IsNaN", since=9)(unary(tf.math.is_nan))


@converter("IsInf", since=10)
def is_inf(node: Node) -> Value:
    value = node.value(0)
    x = node.tensor(0, value.perm)
    positive, negative = bool(node.attr("detect_positive", 1)), bool(node.attr("detect_negative", 1))
    if positive and negative:
        return keep_layout(value, tf.math.is_inf(x))
    if positive or negative:
        return keep_layout(value, tf.math.equal(x, float("inf") if positive else float("-inf")))
    return keep_layout(value, tf.zeros_like(x, dtype=tf.bool))


@converter("BitShift", since=11)
def bit_shift(node: Node) -> Value:
    direction = node.attr("direction", "")
    if direction not in ("LEFT", "RIGHT"):
        raise Unsupported(f"BitShift direction {direction!r}")
    (x, shift), perm = aligned(node, [0, 1])
    bits = x.dtype.size * 8
    # TF clamps the shift into [0, bits - 1]; ONNX shifts every bit out (sign fill for signed right shifts)
    out_of_range = tf.logical_or(shift < 0, shift >= bits)
    if direction == "LEFT":
        shifted, fill = tf.bitwise.left_shift(x, shift), tf.zeros_like(x)
    else:
        shifted = tf.bitwise.right_shift(x, shift)
        fill = tf.zeros_like(x) if x.dtype.is_unsigned else tf.bitwise.right_shift(x, tf.constant(bits - 1, x.dtype))
    return Value(tf.where(out_of_range, fill, shifted), perm)
