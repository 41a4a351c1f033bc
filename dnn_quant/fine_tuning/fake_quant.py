"""Fake quantization with a trainable range, and the fixed int8 weights of a linear layer.

The forward pass is exactly ``QParams.from_range``'s grid: ``scale = (high - low) / 255``, the zero point
rounded so that real 0 is a code, values rounded half to even and saturated. Rounding passes gradients
straight through, so the range learns from both the clipping error and the rounding error (as LSQ does).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import tensorflow as tf

from dnn_quant.fine_tuning.rounding import Learned
from dnn_quant.layers.linear import WEIGHT_MAX, weight_scales
from dnn_quant.qparams import QMAX, QMIN, QParams

LEVELS = QMAX - QMIN
# How far training may move a bound from its calibrated value (factors of e): a range a thousandth as wide
# saturates almost everything, one twenty times as wide wastes four bits.
_LOG_LIMITS = (-7.0, 3.0)


def round_ste(values: tf.Tensor) -> tf.Tensor:
    """Round half to even forward, identity backward."""
    return values + tf.stop_gradient(tf.round(values) - values)


def fake_quant(values: tf.Tensor, low: tf.Tensor, high: tf.Tensor) -> tf.Tensor:
    """``values`` on the int8 grid of ``[low, high]`` (``low <= 0 <= high``, ``high > low``), back in reals."""
    scale = (high - low) / LEVELS
    zero_point = tf.clip_by_value(round_ste(QMIN - low / scale), QMIN, QMAX)
    codes = tf.clip_by_value(round_ste(values / scale) + zero_point, QMIN, QMAX)
    return (codes - zero_point) * scale


class Grid(Protocol):
    """Where a tensor's values land: ``grid(values)`` on its int8 grid, ``grid.qparams()`` that grid."""

    def __call__(self, values: tf.Tensor) -> tf.Tensor: ...

    def qparams(self) -> QParams: ...


class FixedGrid:
    """A grid that does not depend on data (a layer's ``fixed_qparams``)."""

    def __init__(self, qparams: QParams):
        self.fixed = qparams
        self.bounds = ((QMIN - qparams.zero_point) * qparams.scale, (QMAX - qparams.zero_point) * qparams.scale)

    def __call__(self, values: tf.Tensor) -> tf.Tensor:
        return fake_quant(values, *(tf.constant(b, tf.float32) for b in self.bounds))

    def qparams(self) -> QParams:
        return self.fixed


class TrainableRange(tf.Module):
    """A tensor's ``[low, high]`` as its calibrated bounds times ``exp`` of two trainable log-factors.

    Multiplicative steps suit tensors whose ranges differ by orders of magnitude, and a bound that is 0 (a ReLU
    output's minimum) stays exactly 0. A range of zero width (a constant-zero tensor) is not trained.
    """

    def __init__(self, low: float, high: float, name: str):
        super().__init__(name=name)
        self.base = (min(low, 0.0), max(high, 0.0))
        self.trainable = self.base[1] > self.base[0]
        self.log_low = tf.Variable(0.0, trainable=self.trainable, name="log_low")
        self.log_high = tf.Variable(0.0, trainable=self.trainable, name="log_high")

    def bounds(self) -> tuple[tf.Tensor, tf.Tensor]:
        return (
            self.base[0] * tf.exp(tf.clip_by_value(self.log_low, *_LOG_LIMITS)),
            self.base[1] * tf.exp(tf.clip_by_value(self.log_high, *_LOG_LIMITS)),
        )

    def __call__(self, values: tf.Tensor) -> tf.Tensor:
        if not self.trainable:  # QParams.from_range's grid for an empty range: scale 1, zero point 0
            return tf.clip_by_value(tf.round(values), QMIN, QMAX)
        return fake_quant(values, *self.bounds())

    def qparams(self) -> QParams:
        return QParams.from_range(*self.thresholds())

    def thresholds(self) -> tuple[float, float]:
        """The current range, in float64, as the thresholds file holds it."""
        low, high = (float(np.clip(v.numpy(), *_LOG_LIMITS)) for v in (self.log_low, self.log_high))
        return self.base[0] * math.exp(low), self.base[1] * math.exp(high)


# AdaRound's rectified sigmoid (Nagel et al. 2020): h(v) = clip(sigmoid(v) * (ZETA - GAMMA) + GAMMA, 0, 1) reaches
# 0 and 1 at finite v, so a regulariser can make the rounding hard.
_ZETA, _GAMMA = 1.1, -0.1
# Where a soft rounding starts: the weight's own fraction, kept inside (0, 1) and on the side of its bit.
_H_LIMITS = (0.005, 0.995)
_H_MARGIN = 0.01


def rectified_sigmoid(v: tf.Tensor) -> tf.Tensor:
    return tf.clip_by_value(tf.sigmoid(v) * (_ZETA - _GAMMA) + _GAMMA, 0.0, 1.0)


def _inverse_rectified_sigmoid(h: np.ndarray) -> np.ndarray:
    return -np.log((_ZETA - _GAMMA) / (h - _GAMMA) - 1.0)


class LinearWeights(tf.Module):
    """A convolution's or dense layer's int8 weights and bias, with learned rounding and bias offsets.

    Each weight is ``scale * (floor(w / scale) + h)`` with ``h = rectified_sigmoid(v)`` per weight: soft
    (``h`` in [0, 1]) while training, hard (``h >= 0.5`` rounds up, as the thresholds' ``round_up`` bits) when
    evaluated. ``v`` starts where ``h`` is the weight's fraction (the soft weights are the float ones), on the
    side of the starting bits (rounding to nearest, or the given ones). The bias offset is ``t * unit`` per output
    channel (``unit``: the output's step), added to the given offset. Scales are those ``quantize`` computes from
    the starting input scale.
    """

    def __init__(
        self,
        weights: np.ndarray,
        bias: np.ndarray,
        in_scale: float,
        unit: float,
        start: Learned | None,
        trainable: tuple[bool, bool],
        name: str,
    ):
        super().__init__(name=name)
        self.float_weights = weights.astype(np.float32)
        self.bias = bias.astype(np.float64)
        self.start_offset = (
            np.zeros_like(self.bias) if start is None or start.bias_offset is None else start.bias_offset
        )
        scales = weight_scales(weights, self.bias + self.start_offset, in_scale)
        ratio = weights.astype(np.float64) / scales
        low = np.floor(ratio)
        fraction = ratio - low
        self.scales = scales.astype(np.float32)
        self.low = low.astype(np.float32)
        self.fractional = (fraction > 0).astype(np.float32)  # weights on the grid have no rounding to learn
        self.nearest = np.rint(ratio) > low
        bits = self.nearest if start is None else start.round_up.astype(bool)
        h = np.where(bits, np.maximum(fraction, 0.5 + _H_MARGIN), np.minimum(fraction, 0.5 - _H_MARGIN))
        self.rounding = tf.Variable(
            _inverse_rectified_sigmoid(np.clip(h, *_H_LIMITS)).astype(np.float32), trainable=trainable[0], name="v"
        )
        self.unit = np.float32(unit)
        self.offset = tf.Variable(np.zeros(self.bias.shape, np.float32), trainable=trainable[1], name="bias_offset")
        self.learns_rounding, self.learns_bias = trainable

    def _weights(self, h: tf.Tensor) -> tf.Tensor:
        codes = tf.clip_by_value(self.low + h * self.fractional, -WEIGHT_MAX, WEIGHT_MAX)
        return codes * self.scales

    def soft(self) -> tf.Tensor:
        """The soft rounding while it is learned; the hard one otherwise."""
        return self._weights(rectified_sigmoid(self.rounding)) if self.learns_rounding else self.hard()

    def hard(self) -> tf.Tensor:
        return self._weights(tf.cast(self.rounding >= 0.0, tf.float32))

    def bias_values(self) -> tf.Tensor:
        return tf.constant((self.bias + self.start_offset).astype(np.float32)) + self.offset * self.unit

    def regulariser(self, beta: tf.Tensor) -> tf.Tensor:
        """AdaRound's ``1 - |2h - 1|^beta``, averaged over the weights that round: 0 once every ``h`` is 0 or 1."""
        h = rectified_sigmoid(self.rounding)
        penalty = (1.0 - tf.pow(tf.abs(2.0 * h - 1.0), beta)) * self.fractional
        return tf.reduce_sum(penalty) / max(float(self.fractional.sum()), 1.0)

    def learned(self) -> Learned | None:
        """The current hard rounding and offsets; None when they are what ``quantize`` does without them."""
        bits = (self.rounding.numpy() >= 0.0) & (self.fractional > 0)
        offset = self.start_offset + self.offset.numpy().astype(np.float64) * float(self.unit)
        same_bits = np.array_equal(bits, self.nearest & (self.fractional > 0))
        if same_bits and not offset.any():
            return None
        return Learned(bits, offset if offset.any() else None)
