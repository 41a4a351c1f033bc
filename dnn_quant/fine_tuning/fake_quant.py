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


def int8_weights(weights: np.ndarray, bias: np.ndarray, in_scale: float) -> np.ndarray:
    """The real values of the int8 weights ``quantize_linear`` produces (output channel last), as float32.

    They are fixed: the thresholds file has no place for weights, and ``quantize`` rounds them to nearest.
    """
    scales = weight_scales(weights, bias, in_scale)
    codes = np.clip(np.rint(weights / scales), -WEIGHT_MAX, WEIGHT_MAX)
    return (codes * scales).astype(np.float32)
