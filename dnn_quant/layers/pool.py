"""Max and average pooling (windows, global means) over NHWC codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import tensorflow as tf

from dnn_quant import golden
from dnn_quant.fixed_point import fixed_point_array
from dnn_quant.layers.base import FloatLayer, Layer, QParamsOf


@dataclass
class MaxPool(Layer):
    """Maximum of the window's codes; padding is never the maximum. Keeps the input's quantization."""

    KIND: ClassVar[str] = "max_pool"
    kernel: list[int] = field(default_factory=lambda: [1, 1])
    strides: list[int] = field(default_factory=lambda: [1, 1])
    pads: list[int] = field(default_factory=lambda: [0, 0, 0, 0])

    def golden(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        x = tf.cast(inputs[0], tf.float32)  # TF's CPU max pool has no int8 kernel; int8 is exact in float32
        top, bottom, left, right = self.pads
        if any(self.pads):
            x = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], constant_values=-1000.0)
        pooled = tf.nn.max_pool2d(x, self.kernel, self.strides, "VALID")
        return tf.cast(pooled, tf.int8)


@dataclass
class AvgPool(Layer):
    """``requantize(window sum of (a - za), mult[y, x], shift[y, x], zo)``.

    The multiplier depends on the output position only where the window count does (padding left out
    of the average, as TF's SAME pooling does). A global mean is one window covering the whole map.
    """

    KIND: ClassVar[str] = "avg_pool"
    kernel: list[int] = field(default_factory=lambda: [1, 1])
    strides: list[int] = field(default_factory=lambda: [1, 1])
    pads: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    in_zero_point: int = 0
    mult: np.ndarray = field(default_factory=lambda: np.zeros((1, 1), np.int64))  # [out_h, out_w]
    shift: np.ndarray = field(default_factory=lambda: np.zeros((1, 1), np.int64))
    keep_dims: bool = True

    def golden(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        x = golden.to_float64(inputs[0]) - float(self.in_zero_point)
        top, bottom, left, right = self.pads
        if any(self.pads):
            x = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
        channels = x.shape[-1]
        sums = golden.to_int64(self._window_sums(x, channels))
        out = golden.requantize(sums, self.mult[..., None], self.shift[..., None], self.out.zero_point)
        return out if self.keep_dims else tf.reshape(out, [-1, channels])

    def _window_sums(self, x: tf.Tensor, channels: int) -> tf.Tensor:
        if list(x.shape[1:3]) == list(self.kernel):  # one window: a global sum
            return tf.reduce_sum(x, axis=[1, 2], keepdims=True)
        ones = np.ones([*self.kernel, channels, 1], np.float64)
        if self.strides[0] == self.strides[1]:
            return tf.nn.depthwise_conv2d(x, ones, [1, *self.strides, 1], "VALID")
        # TF's depthwise kernel wants equal strides: sum every window, keep the strided ones
        return tf.nn.depthwise_conv2d(x, ones, [1, 1, 1, 1], "VALID")[:, :: self.strides[0], :: self.strides[1], :]


def window_counts(size: list[int], kernel: list[int], strides: list[int], pads: list[int]) -> np.ndarray:
    """How many real (unpadded) elements each output window covers, ``[out_h, out_w]``."""
    counts = []
    for axis in range(2):
        padded = size[axis] + pads[2 * axis] + pads[2 * axis + 1]
        starts = np.arange(0, padded - kernel[axis] + 1, strides[axis]) - pads[2 * axis]
        ends = np.minimum(starts + kernel[axis], size[axis])
        counts.append(ends - np.maximum(starts, 0))
    return np.outer(counts[0], counts[1])


@dataclass
class FloatMaxPool(FloatLayer):
    INHERITS: ClassVar[bool] = True
    kernel: list[int] = field(default_factory=lambda: [1, 1])
    strides: list[int] = field(default_factory=lambda: [1, 1])
    pads: list[int] = field(default_factory=lambda: [0, 0, 0, 0])

    def quantize(self, qparams: QParamsOf) -> MaxPool:
        return MaxPool(self.name, list(self.inputs), qparams(self.inputs[0]), self.kernel, self.strides, self.pads)


@dataclass
class FloatAvgPool(FloatLayer):
    kernel: list[int] = field(default_factory=lambda: [1, 1])
    strides: list[int] = field(default_factory=lambda: [1, 1])
    pads: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    input_hw: list[int] = field(default_factory=lambda: [1, 1])
    count_padding: bool = False  # True: padding counts in the divisor (ONNX count_include_pad)
    keep_dims: bool = True
    position_scale: np.ndarray | None = None  # [out_h, out_w] factors of a multiply folded in after the pool

    def quantize(self, qparams: QParamsOf) -> AvgPool:
        x, out = qparams(self.inputs[0]), qparams(self.name)
        counts = window_counts(self.input_hw, self.kernel, self.strides, self.pads)
        if self.count_padding:
            counts = np.full_like(counts, self.kernel[0] * self.kernel[1])
        factors = np.ones(counts.shape) if self.position_scale is None else self.position_scale
        mult, shift = fixed_point_array(x.scale * factors / (out.scale * counts))
        return AvgPool(
            self.name,
            list(self.inputs),
            out,
            self.kernel,
            self.strides,
            self.pads,
            x.zero_point,
            mult,
            shift,
            self.keep_dims,
        )
