"""Convolutions (plain, grouped, depthwise, dilated, strided) and dense layers: the ME's work."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import tensorflow as tf

from dnn_quant import golden
from dnn_quant.layers.base import FloatLayer, Layer, QParamsOf
from dnn_quant.layers.linear import clamp_codes, quantize_linear


@dataclass
class Conv(Layer):
    """NHWC convolution; a dense layer is a 1x1 convolution over a rank-2 input (``dense``).

    ``weights`` are HWIO int8 with ``I = in_channels / groups``; ``pads`` are (top, bottom, left, right),
    filled with the input's zero point ``pad_code``.
    """

    KIND: ClassVar[str] = "conv"
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    mult: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    shift: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    strides: list[int] = field(default_factory=lambda: [1, 1])
    dilations: list[int] = field(default_factory=lambda: [1, 1])
    pads: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    groups: int = 1
    pad_code: int = 0
    lo: int = -128
    hi: int = 127
    dense: bool = False

    def golden(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        x = golden.to_float64(inputs[0])
        acc = tf.matmul(x, tf.constant(self.weights[0, 0].astype(np.float64))) if self.dense else self._conv(x)
        total = golden.to_int64(acc) + tf.constant(self.bias.astype(np.int64))
        return golden.requantize(total, self.mult, self.shift, self.out.zero_point, self.lo, self.hi)

    def _conv(self, x: tf.Tensor) -> tf.Tensor:
        top, bottom, left, right = self.pads
        if any(self.pads):
            x = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], constant_values=float(self.pad_code))
        weights = self.weights.astype(np.float64)
        strides, dilations = [1, *self.strides, 1], self.dilations
        in_channels = weights.shape[2] * self.groups
        if self.groups == 1:
            return tf.nn.conv2d(x, weights, strides, "VALID", dilations=dilations)
        if self.groups == in_channels and weights.shape[2] == 1:  # depthwise (channel multiplier = cout / cin)
            depthwise = weights.reshape(*weights.shape[:2], in_channels, -1)
            return tf.nn.depthwise_conv2d(x, depthwise, strides, "VALID", dilations=dilations)
        parts = tf.split(x, self.groups, axis=3)
        kernels = np.split(weights, self.groups, axis=3)
        return tf.concat(
            [tf.nn.conv2d(p, k, strides, "VALID", dilations=dilations) for p, k in zip(parts, kernels, strict=True)],
            axis=3,
        )


@dataclass
class FloatConv(FloatLayer):
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))  # HWIO, or [K, M] when dense
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0))
    strides: list[int] = field(default_factory=lambda: [1, 1])
    dilations: list[int] = field(default_factory=lambda: [1, 1])
    pads: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    groups: int = 1
    low: float = -math.inf  # fused clamp (ReLU: 0, ReLU6: 0..6)
    high: float = math.inf
    dense: bool = False

    def quantize(self, qparams: QParamsOf) -> Conv:
        x, out = qparams(self.inputs[0]), qparams(self.name)
        weights = self.weights.reshape(1, 1, *self.weights.shape) if self.dense else self.weights
        codes, bias, mult, shift = quantize_linear(weights, self.bias, x, out)
        lo, hi = clamp_codes(out, self.low, self.high)
        return Conv(
            self.name,
            list(self.inputs),
            out,
            codes,
            bias,
            mult,
            shift,
            list(self.strides),
            list(self.dilations),
            list(self.pads),
            self.groups,
            x.zero_point,
            lo,
            hi,
            self.dense,
        )
