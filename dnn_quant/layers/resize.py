"""Bilinear resize: linear interpolation along one or two axes with fixed-point weights.

Along each resized axis, output position ``o`` reads the input positions ``indices[o, :]`` with integer weights
``weights[o, :]`` that sum to exactly ``2^WEIGHT_BITS``:

    out = round_shift(sum over the taps of both axes of wy * wx * q, WEIGHT_BITS * axes)

A weighted mean of codes with weights summing to one: the zero point cancels, the result lies between the
smallest and the largest code read, and the output keeps the input's quantization. With two axes the sum
stays below 2^28 (int32).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from dnn_quant import golden
from dnn_quant.layers.base import FloatLayer, Layer, QParamsOf
from dnn_quant.qparams import QParams

WEIGHT_BITS = 10


@dataclass
class ResizeBilinear(Layer):
    KIND: ClassVar[str] = "resize_bilinear"
    axes: list[int] = field(default_factory=list)
    indices: list[np.ndarray] = field(default_factory=list)  # per axis, int32 [out, taps] in [0, in_size)
    weights: list[np.ndarray] = field(default_factory=list)  # per axis, int32 [out, taps], rows sum to 2^10

    def golden(self, inputs: list[tf.Tensor]) -> tf.Tensor:
        y = golden.to_int64(inputs[0])
        rank = len(inputs[0].shape)
        for axis, index, weight in zip(self.axes, self.indices, self.weights, strict=True):
            taps = tf.gather(y, tf.constant(index.astype(np.int64)), axis=axis)  # [..., out, taps, ...]
            shaped = weight.astype(np.int64).reshape((1,) * axis + weight.shape + (1,) * (rank - axis - 1))
            y = tf.reduce_sum(taps * tf.constant(shaped), axis=axis + 1)
        return golden.clamp(golden.round_shift(y, WEIGHT_BITS * len(self.axes)), -128, 127)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            **{f"indices.{i}": a for i, a in enumerate(self.indices)},
            **{f"weights.{i}": a for i, a in enumerate(self.weights)},
        }

    def config(self) -> dict[str, Any]:
        return {k: v for k, v in super().config().items() if k not in ("indices", "weights")}

    @classmethod
    def from_saved(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> ResizeBilinear:
        count = len(config["axes"])
        indices = [arrays[f"indices.{i}"] for i in range(count)]
        weights = [arrays[f"weights.{i}"] for i in range(count)]
        return cls(config["name"], config["inputs"], QParams(**config["out"]), config["axes"], indices, weights)


def fixed_weights(weights: np.ndarray) -> np.ndarray:
    """Non-negative float weights whose rows sum to 1 as integers whose rows sum to ``2^WEIGHT_BITS``: each
    rounded down, the units left over going to the largest remainders (the first tap on ties)."""
    scaled = np.asarray(weights, np.float64) * 2**WEIGHT_BITS
    floor = np.floor(scaled)
    missing = (2**WEIGHT_BITS - floor.sum(axis=1)).round().astype(np.int64)
    order = np.argsort(-(scaled - floor), axis=1, kind="stable")
    rank = np.argsort(order, axis=1, kind="stable")  # position of each tap in its row's order
    return (floor + (rank < missing[:, None])).astype(np.int32)


@dataclass
class FloatResizeBilinear(FloatLayer):
    INHERITS: ClassVar[bool] = True
    axes: list[int] = field(default_factory=list)
    indices: list[np.ndarray] = field(default_factory=list)
    weights: list[np.ndarray] = field(default_factory=list)  # float, rows sum to 1

    def quantize(self, qparams: QParamsOf) -> ResizeBilinear:
        indices = [np.asarray(i, np.int32) for i in self.indices]
        weights = [fixed_weights(w) for w in self.weights]
        return ResizeBilinear(self.name, list(self.inputs), qparams(self.inputs[0]), list(self.axes), indices, weights)
