"""Per-tensor quantization parameters: real value = scale * (code - zero_point), codes int8."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pytpu.errors import QuantizationError

QMIN, QMAX = -128, 127


@dataclass(frozen=True)
class QParams:
    scale: float
    zero_point: int

    @staticmethod
    def from_range(low: float, high: float, symmetric: bool = False) -> QParams:
        """The int8 grid covering ``[low, high]`` with real 0 exactly representable."""
        if not (math.isfinite(low) and math.isfinite(high)):
            raise QuantizationError(f"the range [{low}, {high}] is not finite")
        low, high = min(low, 0.0), max(high, 0.0)
        if symmetric:
            bound = max(-low, high)
            return QParams(bound / 127.0 if bound > 0 else 1.0, 0)
        if high - low <= 0:
            return QParams(1.0, 0)
        scale = (high - low) / (QMAX - QMIN)
        zero_point = int(np.clip(round(QMIN - low / scale), QMIN, QMAX))
        return QParams(scale, zero_point)

    def quantize(self, values: np.ndarray) -> np.ndarray:
        """Host-side float -> int8, as docs/integer_arithmetic.md defines it."""
        codes = np.rint(np.asarray(values, np.float64) / self.scale) + self.zero_point
        return np.clip(codes, QMIN, QMAX).astype(np.int8)

    def dequantize(self, codes: np.ndarray) -> np.ndarray:
        return ((np.asarray(codes, np.float64) - self.zero_point) * self.scale).astype(np.float32)

    def code(self, value: float) -> int:
        """The code of one real value (padding fills, clamp bounds), saturated."""
        if math.isinf(value):
            return QMAX if value > 0 else QMIN
        return int(np.clip(round(value / self.scale) + self.zero_point, QMIN, QMAX))
