"""Real-valued scale factors as the fixed-point (multiplier, shift) pairs of docs/integer_arithmetic.md."""

from __future__ import annotations

import math

import numpy as np

from pytpu.errors import QuantizationError

MULT_BITS = 30  # multipliers lie in [2^29, 2^30): 30 bits of precision keep |v * mult| below 2^62
MAX_SHIFT = 62


def fixed_point(ratio: float) -> tuple[int, int]:
    """``(mult, shift)`` with ``mult * 2^-shift`` closest to ``ratio`` (``ratio`` >= 0)."""
    if not math.isfinite(ratio) or ratio < 0:
        raise QuantizationError(f"cannot express the scale ratio {ratio!r} as a fixed-point multiplier")
    if ratio == 0:
        return 0, 0
    exponent = math.frexp(ratio)[1]  # ratio = f * 2^exponent, f in [0.5, 1)
    shift = MULT_BITS - exponent
    if shift < 0:
        raise QuantizationError(f"the scale ratio {ratio:g} is too large for a fixed-point multiplier")
    shift = min(shift, MAX_SHIFT)
    mult = round(ratio * 2.0**shift)
    if mult >= 2**MULT_BITS:  # f rounded up to 1.0
        mult //= 2
        shift -= 1
    return int(mult), int(shift)


def fixed_point_array(ratios: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``fixed_point``: int64 multipliers and shifts."""
    pairs = [fixed_point(float(r)) for r in np.asarray(ratios, np.float64).ravel()]
    mult = np.array([p[0] for p in pairs], np.int64).reshape(np.shape(ratios))
    shift = np.array([p[1] for p in pairs], np.int64).reshape(np.shape(ratios))
    return mult, shift


def common_shift(ratios: list[float]) -> tuple[list[int], int]:
    """Multipliers for several operands sharing one shift (the EWP add): the largest gets full precision."""
    largest = max(abs(r) for r in ratios)
    _, shift = fixed_point(largest)
    return [round(r * 2.0**shift) for r in ratios], shift
