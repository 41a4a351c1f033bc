"""PReLU with a slope per channel (last axis): two multipliers sharing one shift, chosen by the sign.

out = clamp(round_shift((a - za) * (a >= za ? positive : negative[c]), shift) + zo, lo, hi)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import tensorflow as tf

from dnn_quant import golden
from dnn_quant.fixed_point import common_shift
from dnn_quant.layers.base import FloatLayer, Layer, QParamsOf


@dataclass
class PRelu(Layer):
    KIND: ClassVar[str] = "prelu"
    in_zero_point: int = 0
    positive: int = 0
    negative: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))  # per channel (last axis)
    shift: int = 0

    def golden(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        centred = golden.to_int64(inputs[0]) - self.in_zero_point
        mult = tf.where(centred >= 0, tf.constant(self.positive, tf.int64), tf.constant(self.negative.astype(np.int64)))
        return golden.clamp(golden.round_shift(centred * mult, self.shift) + self.out.zero_point, -128, 127)


@dataclass
class FloatPRelu(FloatLayer):
    slope: np.ndarray = field(default_factory=lambda: np.zeros(1))  # per channel, or one value

    def quantize(self, qparams: QParamsOf) -> PRelu:
        x, out = qparams(self.inputs[0]), qparams(self.name)
        ratio = x.scale / out.scale
        mults, shift = common_shift([ratio, *(ratio * self.slope.reshape(-1)).tolist()])
        negative = np.array(mults[1:], np.int64)
        return PRelu(self.name, list(self.inputs), out, x.zero_point, int(mults[0]), negative, shift)
