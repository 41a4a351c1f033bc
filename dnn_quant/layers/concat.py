"""Concatenation of activations with different scales: each input rescaled to the output's grid."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import tensorflow as tf

from dnn_quant import golden
from dnn_quant.fixed_point import fixed_point
from dnn_quant.layers.base import FloatLayer, Layer, QParamsOf
from dnn_quant.qparams import QParams


@dataclass
class Concat(Layer):
    """Input ``i`` becomes ``requantize(a - zero_points[i], mults[i], shifts[i], zo)``, or passes unchanged
    when it already has the output's quantization (``mults[i] == 0``)."""

    KIND: ClassVar[str] = "concat"
    axis: int = -1
    zero_points: list[int] = field(default_factory=list)
    mults: list[int] = field(default_factory=list)
    shifts: list[int] = field(default_factory=list)

    def golden(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        parts = [self._rescaled(x, i) for i, x in enumerate(inputs)]
        return tf.concat(parts, axis=self.axis)

    def _rescaled(self, x: tf.Tensor, i: int) -> tf.Tensor:
        if self.mults[i] == 0:
            return x
        centred = golden.to_int64(x) - self.zero_points[i]
        return golden.requantize(centred, self.mults[i], self.shifts[i], self.out.zero_point)


@dataclass
class FloatConcat(FloatLayer):
    axis: int = -1

    def quantize(self, qparams: QParamsOf) -> Concat:
        out = qparams(self.name)
        zero_points, mults, shifts = [], [], []
        for name in self.inputs:
            x = qparams(name)
            mult, shift = (0, 0) if _same(x, out) else fixed_point(x.scale / out.scale)
            zero_points.append(x.zero_point)
            mults.append(mult)
            shifts.append(shift)
        return Concat(self.name, list(self.inputs), out, self.axis, zero_points, mults, shifts)


def _same(a: QParams, b: QParams) -> bool:
    return a.zero_point == b.zero_point and a.scale == b.scale
