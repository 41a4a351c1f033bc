"""MatMul of two activations (attention's ``Q @ K^T`` and ``P @ V``): both operands int8 with zero point 0.

    acc[..., n, m] = sum_k a[..., n, k] * b[..., k, m]          int32
    out = requantize(acc, mult, shift, zo, lo, hi)

Both operands are quantized symmetrically (docs/integer_arithmetic.md): with a zero point the sum would need
data-dependent corrections (``zb * sum_k a`` and ``za * sum_k b``) that no constant bias can hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import tensorflow as tf

from dnn_quant import golden
from dnn_quant.fixed_point import fixed_point
from dnn_quant.layers.base import FloatLayer, Layer, QParamsOf
from dnn_quant.layers.linear import clamp_codes
from pytpu.errors import QuantizationError

MAX_DEPTH = 2**17  # 128 * 128 * depth stays inside the int32 accumulator


@dataclass
class MatMul(Layer):
    """Batch axes broadcast as in ``tf.matmul``; ``transpose_a``/``transpose_b`` swap an operand's last two axes."""

    KIND: ClassVar[str] = "matmul"
    transpose_a: bool = False
    transpose_b: bool = False
    mult: int = 0  # negative when a negative scale factor was folded in
    shift: int = 0
    lo: int = -128
    hi: int = 127

    def golden(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        a, b = (golden.to_float64(x) for x in inputs)
        acc = tf.matmul(a, b, transpose_a=self.transpose_a, transpose_b=self.transpose_b)
        return golden.requantize(golden.to_int64(acc), self.mult, self.shift, self.out.zero_point, self.lo, self.hi)


@dataclass
class FloatMatMul(FloatLayer):
    SYMMETRIC_INPUTS: ClassVar[bool] = True
    transpose_a: bool = False
    transpose_b: bool = False
    factor: float = 1.0  # a constant scale after the product (attention's 1 / sqrt(d))
    low: float = -math.inf
    high: float = math.inf

    def quantize(self, qparams: QParamsOf) -> MatMul:
        (a, b), out = (qparams(i) for i in self.inputs), qparams(self.name)
        for name, q in zip(self.inputs, (a, b), strict=True):
            if q.zero_point != 0:
                raise QuantizationError(
                    f"MatMul {self.name!r}: its operand {name!r} has zero point {q.zero_point}; it must be 0"
                )
        ratio = a.scale * b.scale * self.factor / out.scale
        mult, shift = fixed_point(abs(ratio))
        lo, hi = clamp_codes(out, self.low, self.high)
        signed = -mult if ratio < 0 else mult
        return MatMul(self.name, list(self.inputs), out, self.transpose_a, self.transpose_b, signed, shift, lo, hi)
