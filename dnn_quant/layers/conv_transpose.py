"""Transposed convolution as the matrix engine computes it: a stride-1 convolution over the zero-inserted input.

``upsample - 1`` copies of the input zero point (the code of real 0) go between neighbouring pixels, the result
is padded with the zero point (negative pads crop it), and the spatially flipped kernel slides over it with
stride 1. Every window sees input codes or the zero point, so the zero point folds into the bias exactly as
for ``Conv``, and everything after the accumulator is ``Conv``'s output stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import ClassVar

import numpy as np
import tensorflow as tf

from dnn_quant.layers.base import QParamsOf
from dnn_quant.layers.conv import Conv, FloatConv


@dataclass
class ConvTranspose(Conv):
    """``weights`` are the flipped HWIO kernel; ``pads`` (top, bottom, left, right) apply to the zero-inserted
    input and may be negative (a crop). ``strides``, ``dilations`` and ``groups`` stay 1."""

    KIND: ClassVar[str] = "conv_transpose"
    upsample: list[int] = field(default_factory=lambda: [1, 1])  # the transposed convolution's strides

    def _conv(self, x: tf.Tensor) -> tf.Tensor:
        fill = float(self.pad_code)
        for axis, factor in ((1, self.upsample[0]), (2, self.upsample[1])):
            x = _insert(x, axis, factor, fill)
        top, bottom, left, right = self.pads
        height, width = x.shape[1], x.shape[2]
        x = x[:, max(-top, 0) : height - max(-bottom, 0), max(-left, 0) : width - max(-right, 0), :]
        grow = [[0, 0], [max(top, 0), max(bottom, 0)], [max(left, 0), max(right, 0)], [0, 0]]
        x = tf.pad(x, grow, constant_values=fill)
        return tf.nn.conv2d(x, self.weights.astype(np.float64), [1, 1, 1, 1], "VALID")


def _insert(x: tf.Tensor, axis: int, factor: int, fill: float) -> tf.Tensor:
    """``factor - 1`` planes of ``fill`` after every plane along ``axis`` but the last."""
    if factor == 1:
        return x
    shape = x.shape.as_list()
    spread = tf.stack([x] + [tf.ones_like(x) * fill] * (factor - 1), axis=axis + 1)
    size = shape[axis]
    shape[0], shape[axis] = -1, size * factor
    kept = [slice(None)] * len(shape)
    kept[axis] = slice(0, (size - 1) * factor + 1)
    return tf.reshape(spread, shape)[tuple(kept)]


@dataclass
class FloatConvTranspose(FloatConv):
    """``weights`` the flipped HWIO kernel and ``pads`` those of the zero-inserted input, as ``ConvTranspose``."""

    upsample: list[int] = field(default_factory=lambda: [1, 1])

    def quantize(self, qparams: QParamsOf) -> ConvTranspose:
        conv = super().quantize(qparams)
        values = {f.name: getattr(conv, f.name) for f in fields(conv)}
        return ConvTranspose(**values, upsample=list(self.upsample))
