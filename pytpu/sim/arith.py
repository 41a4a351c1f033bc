"""The integer arithmetic contract of docs/integer_arithmetic.md, vectorised over int64 numpy arrays.

The output stage (``requantize_sum``) works in place on the int64 array it forms, so each step is one
pass over memory: it runs over every activation the device computes.
"""

from __future__ import annotations

import numpy as np

ArrayLike = np.ndarray | int


def _half(s: ArrayLike) -> np.ndarray:
    """``2^(s-1)`` where ``s > 0``, else 0: what round_shift adds before shifting."""
    s = np.asarray(s, dtype=np.int64)
    return np.where(s > 0, np.left_shift(np.int64(1), np.maximum(s - 1, 0)), 0)


def round_shift(x: np.ndarray, s: ArrayLike) -> np.ndarray:
    """``x`` if ``s == 0``, else ``(x + 2^(s-1)) >> s`` (arithmetic shift; halves round towards +inf)."""
    # For s == 0 the half is 0 and the shift a no-op, so one expression serves both cases.
    return np.right_shift(x + _half(s), np.asarray(s, dtype=np.int64))


def clamp_to_int8(x: np.ndarray, zo: ArrayLike, lo: int, hi: int) -> np.ndarray:
    """``clamp(x + zo, lo, hi)`` as int8."""
    return np.clip(x + zo, lo, hi).astype(np.int8)


def requantize(v: np.ndarray, mult: ArrayLike, shift: ArrayLike, zo: int, lo: int, hi: int) -> np.ndarray:
    """``clamp(round_shift(v * mult, shift) + zo, lo, hi)``; ``v`` int64, products formed in int64."""
    return requantize_sum(v, 0, mult, shift, zo, lo, hi)


def requantize_sum(
    v: np.ndarray, bias: ArrayLike, mult: ArrayLike, shift: ArrayLike, zo: int, lo: int, hi: int
) -> np.ndarray:
    """``requantize(v + bias, mult, shift, zo, lo, hi)`` for integer ``v``, each step in place.

    ``(v + bias) * mult + half == v * mult + (bias * mult + half)`` holds in int64 even where a product
    wraps (int64 arithmetic is modulo 2^64 either way), so bias and rounding fold into one constant.
    """
    mult = np.asarray(mult, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    out = v.astype(np.int64)  # a copy: v is not changed
    out *= mult
    out += np.asarray(bias, dtype=np.int64) * mult + _half(shift)
    out >>= shift
    out += zo
    np.clip(out, lo, hi, out=out)
    return out.astype(np.int8)
