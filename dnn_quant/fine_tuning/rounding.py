"""Learned weight rounding and bias offsets (the thresholds' ``weights`` field) applied to the integer layers.

A convolution or dense layer whose calibrated tensor carries ``weights`` gets, instead of the weights rounded to
nearest, ``floor(w / scale)`` or ``ceil(w / scale)`` as its bits say, and its float bias plus the offsets
before the bias is rounded. Scales, multipliers and the layer kind are those ``quantize`` always makes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from dnn_quant import thresholds as thresholds_file
from dnn_quant.layers.base import FloatLayer, Layer, QParamsOf
from dnn_quant.layers.conv import Conv, FloatConv
from dnn_quant.layers.linear import WEIGHT_MAX, weight_scales
from pytpu.errors import QuantizationError


@dataclasses.dataclass(frozen=True)
class Learned:
    """One layer's learned rounding: bits shaped as its (HWIO) weights, 1 rounding up; bias offsets or None."""

    round_up: np.ndarray
    bias_offset: np.ndarray | None


def hwio(layer: FloatConv) -> np.ndarray:
    """The layer's float weights as the integer layer holds them (a dense layer's ``[K, M]`` as ``[1, 1, K, M]``)."""
    return layer.weights.reshape(1, 1, *layer.weights.shape) if layer.dense else layer.weights


def learned_layers(layers: list[FloatLayer], thresholds: Mapping[str, Any]) -> dict[str, Learned]:
    """The learned rounding of every layer the thresholds give one, by layer name, checked against the layers."""
    linear = {layer.calibrated_as: layer for layer in layers if type(layer) is FloatConv}
    result: dict[str, Learned] = {}
    for tensor, entry in thresholds.items():
        if thresholds_file.WEIGHTS not in entry:
            continue
        layer = linear.get(tensor)
        if layer is None:
            raise QuantizationError(
                f"thresholds: {tensor!r} carries learned weights, but no convolution or dense layer produces it"
            )
        bits, offsets = thresholds_file.learned_weights(entry[thresholds_file.WEIGHTS], f"thresholds: {tensor!r}")
        weights = hwio(layer)
        if bits.size != weights.size:
            raise QuantizationError(
                f"thresholds: {tensor!r} has rounding for {bits.size} weights; layer {layer.name!r} has {weights.size}"
            )
        if offsets is not None and offsets.shape != layer.bias.shape:
            raise QuantizationError(
                f"thresholds: {tensor!r} has {offsets.size} bias offsets; layer {layer.name!r} has "
                f"{layer.bias.size} output channels"
            )
        result[layer.name] = Learned(bits.reshape(weights.shape), offsets)
    return result


def codes(weights: np.ndarray, scales: np.ndarray, round_up: np.ndarray) -> np.ndarray:
    """int8 weight codes: ``w / scale`` rounded down, or up where ``round_up``; a code on the grid stays."""
    ratio = weights.astype(np.float64) / scales
    low = np.floor(ratio)
    return np.clip(np.where(round_up & (ratio > low), low + 1, low), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8)


def quantize_layer(layer: FloatLayer, qparams: QParamsOf, learned: Learned | None) -> Layer:
    """``layer.quantize(qparams)``, with the learned rounding and bias offsets when there are some."""
    if learned is None:
        return layer.quantize(qparams)
    assert isinstance(layer, FloatConv)
    bias = layer.bias if learned.bias_offset is None else layer.bias + learned.bias_offset
    shifted = dataclasses.replace(layer, bias=bias)
    conv = shifted.quantize(qparams)
    assert isinstance(conv, Conv)
    x = qparams(layer.inputs[0])
    weights = codes(hwio(layer), weight_scales(hwio(layer), bias, x.scale), learned.round_up)
    channels = weights.shape[-1]
    # quantize_linear folds the input zero point into the bias with the sums of the nearest codes: refold
    before = conv.weights.reshape(-1, channels).astype(np.int64).sum(axis=0)
    after = weights.reshape(-1, channels).astype(np.int64).sum(axis=0)
    bias_codes = conv.bias.astype(np.int64) + x.zero_point * (before - after)
    return dataclasses.replace(conv, weights=weights, bias=bias_codes.astype(np.int32))
