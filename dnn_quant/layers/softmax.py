"""Softmax over axes of int8 codes.

    d = x - max(x)                              in [-255, 0]
    e = table[d + 255]                          table[k] = round(2^15 * exp(scale_in * (k - 255))), int32
    out = clamp(round_div(e * mult, sum(e) * 2^shift) + zo, -128, 127)
    round_div(a, b) = (2a + b) // (2b)          mult = round(2^shift / scale_out)

The output is calibrated like any other tensor: a 1000-class softmax rarely exceeds a few percent, and a
fixed [0, 1] grid would round most probabilities to zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import tensorflow as tf

from dnn_quant.layers.base import FloatLayer, Layer, QParamsOf

EXP_BITS = 15
SHIFT = 16


@dataclass
class Softmax(Layer):
    KIND: ClassVar[str] = "softmax"
    axes: list[int] = field(default_factory=lambda: [-1])  # normalised together
    table: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int32))
    mult: int = 1
    shift: int = SHIFT

    def golden(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        x = tf.cast(inputs[0], tf.int64)
        d = x - tf.reduce_max(x, axis=self.axes, keepdims=True)
        e = tf.gather(tf.constant(self.table.astype(np.int64)), d + 255)
        denominator = tf.reduce_sum(e, axis=self.axes, keepdims=True) * (1 << self.shift)
        quotient = tf.math.floordiv(2 * e * self.mult + denominator, 2 * denominator)
        return tf.cast(tf.clip_by_value(quotient + self.out.zero_point, -128, 127), tf.int8)


def exp_table(scale: float) -> np.ndarray:
    steps = np.arange(256, dtype=np.float64) - 255
    return np.rint(2.0**EXP_BITS * np.exp(scale * steps)).astype(np.int32)


@dataclass
class FloatSoftmax(FloatLayer):
    axes: list[int] = field(default_factory=lambda: [-1])

    def quantize(self, qparams: QParamsOf) -> Softmax:
        x, out = qparams(self.inputs[0]), qparams(self.name)
        mult = min(round(2.0**SHIFT / out.scale), 2**31 - 1)
        return Softmax(self.name, list(self.inputs), out, list(self.axes), exp_table(x.scale), mult, SHIFT)
