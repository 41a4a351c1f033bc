"""Layer normalisation over the last axis (C values per row) with per-channel gamma and beta, in integers.

Per row of codes ``q`` (the input zero point cancels in every deviation from the mean):

    s1 = sum(q), s2 = sum(q * q)                      int32
    d = C * q - s1                                    C times the deviation from the mean, in codes
    u = C * s2 - s1 * s1 + eps_code                   int64: C^2 (variance + eps) in codes^2
    j = the integer with u = m * 4^j, m in [2^14, 2^16)
    m = u >> 2j, or u << -2j                          (truncating)
    r0 = table[m >> 8]                                table[i] = round(2^23 / sqrt(256 * (i + 0.5))), i >= 64
    r1 = round_shift(r0 * (3 * 2^23 - round_shift(m * r0 * r0, 23)), 24)      one Newton step: 2^23 / sqrt(m)
    n = round_shift(d * r1, 11 + j)                   2^12 (x - mean) / sqrt(variance + eps)
    out = clamp(round_shift(n * mult[c] + bias[c], shift[c]) + zo, -128, 127)

with ``eps_code = round(C^2 * eps / scale_in^2)``, ``mult[c] * 2^-shift[c] = gamma[c] / (2^12 * scale_out)`` and
``bias[c] = round(beta[c] / scale_out * 2^shift[c])``. The table gives 1/sqrt to 0.4%, the Newton step to
0.003%; ``n`` carries 12 fraction bits. Every step is int64 and deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import tensorflow as tf

from dnn_quant import golden
from dnn_quant.fixed_point import fixed_point
from dnn_quant.layers.base import FloatLayer, Layer, QParamsOf

RSQRT_BITS = 23  # table and Newton values are 2^23 / sqrt(m): about 16 bits for m in [2^14, 2^16)
NORM_BITS = 12  # fraction bits of the normalised value n
MAX_CHANNELS = 2**16  # s2 <= 2^14 * C stays inside int32; |n * mult| < 2^50
MAX_EPS_CODE = 2**56  # u < 2^57
MAX_SHIFT = 46  # with |beta / scale_out| <= 2^14, |bias| <= 2^60
MAX_BETA_CODES = 2.0**14  # beyond, the output saturates whatever n is
# u >= 2^(16 + 2i) adds one to j, u < 2^(16 - 2i) takes one away: u < 2^57 needs j <= 21, u >= 1 gives j >= -7
_UP = np.array([1 << (16 + 2 * i) for i in range(21)], np.int64)
_DOWN = np.array([1 << (16 - 2 * i) for i in range(1, 8)], np.int64)


def rsqrt_table() -> np.ndarray:
    """``2^23 / sqrt(m)`` at the middle of each 256-wide bucket of ``m`` in [2^14, 2^16); unused below."""
    index = np.arange(256)
    values = np.rint(2.0**RSQRT_BITS / np.sqrt(256.0 * (index + 0.5)))
    return np.where(index >= 64, values, 0).astype(np.int32)


@dataclass
class LayerNorm(Layer):
    KIND: ClassVar[str] = "layer_norm"
    channels: int = 1
    eps_code: int = 0
    table: np.ndarray = field(default_factory=rsqrt_table)
    mult: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))  # per channel, negative for gamma < 0
    shift: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))

    def golden(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        q = golden.to_int64(inputs[0])
        s1 = tf.reduce_sum(q, axis=-1, keepdims=True)
        s2 = tf.reduce_sum(q * q, axis=-1, keepdims=True)
        u = self.channels * s2 - s1 * s1 + self.eps_code
        up = tf.reduce_sum(tf.cast(u >= tf.constant(_UP), tf.int64), axis=-1, keepdims=True)
        down = tf.reduce_sum(tf.cast(u < tf.constant(_DOWN), tf.int64), axis=-1, keepdims=True)
        j = up - down
        m = tf.where(
            j >= 0,
            tf.bitwise.right_shift(u, 2 * tf.maximum(j, 0)),
            tf.bitwise.left_shift(u, 2 * tf.maximum(-j, 0)),
        )
        r0 = tf.gather(tf.constant(self.table.astype(np.int64)), tf.bitwise.right_shift(m, 8))
        t = golden.round_shift(m * r0 * r0, RSQRT_BITS)
        r1 = golden.round_shift(r0 * ((3 << RSQRT_BITS) - t), RSQRT_BITS + 1)
        n = golden.round_shift_by((self.channels * q - s1) * r1, (RSQRT_BITS - NORM_BITS) + j)
        scaled = n * tf.constant(self.mult.astype(np.int64)) + tf.constant(self.bias.astype(np.int64))
        return golden.clamp(golden.round_shift(scaled, self.shift) + self.out.zero_point, -128, 127)


@dataclass
class FloatLayerNorm(FloatLayer):
    gamma: np.ndarray = field(default_factory=lambda: np.ones(1))
    beta: np.ndarray = field(default_factory=lambda: np.zeros(1))
    epsilon: float = 0.0

    def quantize(self, qparams: QParamsOf) -> LayerNorm:
        x, out = qparams(self.inputs[0]), qparams(self.name)
        channels = len(self.gamma)
        eps_code = min(round(channels**2 * self.epsilon / x.scale**2), MAX_EPS_CODE)
        pairs = [_capped(abs(float(g)) / (out.scale * 2**NORM_BITS)) for g in self.gamma]
        mult = np.array([-m if g < 0 else m for (m, _), g in zip(pairs, self.gamma, strict=True)], np.int64)
        shift = np.array([s for _, s in pairs], np.int64)
        beta = np.clip(self.beta.astype(np.float64) / out.scale, -MAX_BETA_CODES, MAX_BETA_CODES)
        bias = np.rint(beta * 2.0**shift).astype(np.int64)
        return LayerNorm(self.name, list(self.inputs), out, channels, int(eps_code), rsqrt_table(), mult, shift, bias)


def _capped(ratio: float) -> tuple[int, int]:
    """``fixed_point`` with the shift at most ``MAX_SHIFT``: a tiny gamma keeps fewer multiplier bits."""
    mult, shift = fixed_point(ratio)
    if shift <= MAX_SHIFT:
        return mult, shift
    return math.floor(ratio * 2.0**MAX_SHIFT + 0.5), MAX_SHIFT
