"""Quantizing the weights and bias of a linear layer (conv, dense) and its output stage."""

from __future__ import annotations

import numpy as np

from dnn_quant.fixed_point import fixed_point_array
from dnn_quant.qparams import QMAX, QMIN, QParams

WEIGHT_MAX = 127  # weights are symmetric: -128 is never used
_ACC_LIMIT = 2**30  # bias magnitude kept below this so bias + sum of products stays inside int32


def weight_scales(weights: np.ndarray, bias: np.ndarray, in_scale: float) -> np.ndarray:
    """Per output channel (last axis); large enough that the channel's bias fits the accumulator."""
    flat = np.abs(weights.reshape(-1, weights.shape[-1])).max(axis=0)
    scales = np.maximum(flat / WEIGHT_MAX, np.abs(bias) / (in_scale * _ACC_LIMIT))
    return np.where(scales > 0, scales, 1.0).astype(np.float64)


def quantize_linear(
    weights: np.ndarray, bias: np.ndarray, x: QParams, out: QParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """int8 weights, int32 bias (input zero point folded in), per-channel multipliers and shifts.

    ``weights`` have the output channel last and the summed axes before it.
    """
    scales = weight_scales(weights, bias, x.scale)
    codes = np.clip(np.rint(weights / scales), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int8)
    sums = codes.reshape(-1, codes.shape[-1]).astype(np.int64).sum(axis=0)
    bias_codes = np.rint(bias.astype(np.float64) / (x.scale * scales)).astype(np.int64) - x.zero_point * sums
    mult, shift = fixed_point_array(x.scale * scales / out.scale)
    return codes, bias_codes.astype(np.int32), mult, shift


def clamp_codes(out: QParams, low: float, high: float) -> tuple[int, int]:
    """The int8 clamp bounds of a fused ReLU/ReLU6/clip (``-inf``/``inf``: none)."""
    return max(QMIN, out.code(low)), min(QMAX, out.code(high))
