"""Element-wise activations that keep their input's layout."""

from __future__ import annotations

import math

import tensorflow as tf

from onnx_direct.context import Node, Value, keep_layout
from onnx_direct.ops import converter
from onnx_direct.ops._broadcast import aligned, stored, unary

# Selu's defaults are float32 constants in the schema; these are their exact values.
_SELU_ALPHA = 1.67326319217681884765625
_SELU_GAMMA = 1.05070102214813232421875


def _hard_sigmoid(x: tf.Tensor, alpha: float, beta: float) -> tf.Tensor:
    return tf.clip_by_value(alpha * x + beta, tf.zeros([], x.dtype), tf.ones([], x.dtype))


def _elu(x: tf.Tensor, alpha: float) -> tf.Tensor:
    return tf.where(x > 0, x, alpha * tf.math.expm1(x))


converter("Relu", since=1)(unary(tf.nn.relu))
converter("Sigmoid", since=1)(unary(tf.math.sigmoid))
converter("Tanh", since=1)(unary(tf.math.tanh))
converter("Softplus", since=1)(unary(tf.math.softplus))
converter("Softsign", since=1)(unary(tf.math.softsign))
converter("Mish", since=18)(unary(lambda x: x * tf.math.tanh(tf.math.softplus(x))))
converter("HardSwish", since=14)(unary(lambda x: x * _hard_sigmoid(x, 1.0 / 6.0, 0.5)))


@converter("LeakyRelu", since=1)
def leaky_relu(node: Node) -> Value:
    alpha = float(node.attr("alpha", 0.01))
    return keep_layout(node.value(0), tf.nn.leaky_relu(stored(node), alpha))


@converter("Swish", since=24)
def swish(node: Node) -> Value:
    x = stored(node)
    return keep_layout(node.value(0), x * tf.math.sigmoid(float(node.attr("alpha", 1.0)) * x))


@converter("HardSigmoid", since=1)
def hard_sigmoid(node: Node) -> Value:
    alpha, beta = float(node.attr("alpha", 0.2)), float(node.attr("beta", 0.5))
    return keep_layout(node.value(0), _hard_sigmoid(stored(node), alpha, beta))


@converter("Elu", since=1)
def elu(node: Node) -> Value:
    return keep_layout(node.value(0), _elu(stored(node), float(node.attr("alpha", 1.0))))


@converter("Selu", since=1)
def selu(node: Node) -> Value:
    alpha, gamma = float(node.attr("alpha", _SELU_ALPHA)), float(node.attr("gamma", _SELU_GAMMA))
    return keep_layout(node.value(0), gamma * _elu(stored(node), alpha))


@converter("Celu", since=12)
def celu(node: Node) -> Value:
    alpha = float(node.attr("alpha", 1.0))
    x = stored(node)
    # max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) is Elu on x / alpha, scaled back
    return keep_layout(node.value(0), tf.where(x > 0, x, alpha * tf.math.expm1(x / alpha)))


@converter("ThresholdedRelu", since=10)
def thresholded_relu(node: Node) -> Value:
    x = stored(node)
    return keep_layout(node.value(0), tf.where(x > float(node.attr("alpha", 1.0)), x, tf.zeros_like(x)))


@converter("Gelu", since=20)
def gelu(node: Node) -> Value:
    approximate = node.attr("approximate", "none")
    x = stored(node)
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        y = 0.5 * x * (1.0 + tf.math.tanh(inner))
    else:
        y = 0.5 * x * (1.0 + tf.math.erf(x * (1.0 / math.sqrt(2.0))))
    return keep_layout(node.value(0), y)


@converter("Shrink", since=9)
def shrink(node: Node) -> Value:
    lambd, bias = float(node.attr("lambd", 0.5)), float(node.attr("bias", 0.0))
    x = stored(node)
    # integer inputs are compared and shifted in float (the attributes are floats), then truncated back
    xf = x if x.dtype.is_floating else tf.cast(x, tf.float64)
    y = tf.where(xf < -lambd, xf + bias, tf.where(xf > lambd, xf - bias, tf.zeros_like(xf)))
    return keep_layout(node.value(0), tf.cast(y, x.dtype))


@converter("PRelu", since=1)
def prelu(node: Node) -> Value:
    # slope broadcasts to X (e.g. [C, 1, 1] against NCHW); aligned() lays it out like X
    (x, slope), perm = aligned(node, [0, 1])
    return Value(tf.where(x < 0, x * slope, x), perm)


@converter("Clip", since=1)
def clip_attributes(node: Node) -> Value:
    x = stored(node)
    low, high = node.attr("min"), node.attr("max")
    if low is not None:
        x = tf.maximum(x, tf.constant(low, x.dtype))
    if high is not None:
        x = tf.minimum(x, tf.constant(high, x.dtype))
    return keep_layout(node.value(0), x)


@converter("Clip", since=11)
def clip(node: Node) -> Value:
    # min and max are scalars, so their layout does not matter; min > max yields max, as specified
    x = stored(node)
    if node.has_input(1):
        x = tf.maximum(x, node.tensor(1))
    if node.has_input(2):
        x = tf.minimum(x, node.tensor(2))
    return keep_layout(node.value(0), x)
