"""Element-wise add/subtract and multiply of two activations with their own scales (the EWP's work).

Operands broadcast as in TF (a squeeze-and-excitation gate ``[N, 1, 1, C]`` times ``[N, H, W, C]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import tensorflow as tf

from dnn_quant import golden
from dnn_quant.fixed_point import common_shift, fixed_point
from dnn_quant.layers.base import FloatLayer, Layer, QParamsOf
from dnn_quant.layers.linear import clamp_codes


@dataclass
class Add(Layer):
    """``clamp(round_shift((a - za) * ma + (b - zb) * mb, shift) + zo, lo, hi)``; a subtraction has ``mb < 0``."""

    KIND: ClassVar[str] = "add"
    zero_points: tuple[int, int] = (0, 0)
    mults: tuple[int, int] = (0, 0)
    shift: int = 0
    lo: int = -128
    hi: int = 127

    def golden(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        a, b = (golden.to_int64(x) - z for x, z in zip(inputs, self.zero_points, strict=True))
        total = a * self.mults[0] + b * self.mults[1]
        return golden.clamp(golden.round_shift(total, self.shift) + self.out.zero_point, self.lo, self.hi)


@dataclass
class Mul(Layer):
    """``requantize((a - za) * (b - zb), mult, shift, zo, lo, hi)``."""

    KIND: ClassVar[str] = "mul"
    zero_points: tuple[int, int] = (0, 0)
    mult: int = 0
    shift: int = 0
    lo: int = -128
    hi: int = 127

    def golden(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        a, b = (golden.to_int64(x) - z for x, z in zip(inputs, self.zero_points, strict=True))
        return golden.requantize(a * b, self.mult, self.shift, self.out.zero_point, self.lo, self.hi)


@dataclass
class FloatAdd(FloatLayer):
    subtract: bool = False
    low: float = -math.inf
    high: float = math.inf

    def quantize(self, qparams: QParamsOf) -> Add:
        (a, b), out = (qparams(i) for i in self.inputs), qparams(self.name)
        sign = -1.0 if self.subtract else 1.0
        (ma, mb), shift = common_shift([a.scale / out.scale, sign * b.scale / out.scale])
        lo, hi = clamp_codes(out, self.low, self.high)
        return Add(self.name, list(self.inputs), out, (a.zero_point, b.zero_point), (ma, mb), shift, lo, hi)


@dataclass
class FloatMul(FloatLayer):
    low: float = -math.inf
    high: float = math.inf

    def quantize(self, qparams: QParamsOf) -> Mul:
        (a, b), out = (qparams(i) for i in self.inputs), qparams(self.name)
        mult, shift = fixed_point(a.scale * b.scale / out.scale)
        lo, hi = clamp_codes(out, self.low, self.high)
        return Mul(self.name, list(self.inputs), out, (a.zero_point, b.zero_point), mult, shift, lo, hi)
