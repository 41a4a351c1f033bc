"""The integer arithmetic contract of docs/integer_arithmetic.md, vectorised over int64 numpy arrays."""

from __future__ import annotations

import numpy as np

ArrayLike = np.ndarray | int


def round_shift(x: np.ndarray, s: ArrayLike) -> np.ndarray:
    """``x`` if ``s == 0``, else ``(x + 2^(s-1)) >> s`` (arithmetic shift; halves round towards +inf)."""
    s = np.asarray(s, dtype=np.int64)
    # For s == 0 the half is 0 and the shift a no-op, so one expression serves both cases.
    half = np.where(s > 0, np.left_shift(np.int64(1), np.maximum(s - 1, 0)), 0)
    return np.right_shift(x + half, s)


def clamp_to_int8(x: np.ndarray, zo: ArrayLike, lo: int, hi: int) -> np.ndarray:
    """``clamp(x + zo, lo, hi)`` as int8."""
    return np.clip(x + zo, lo, hi).astype(np.int8)


def requantize(v: np.ndarray, mult: ArrayLike, shift: ArrayLike, zo: int, lo: int, hi: int) -> np.ndarray:
    """``clamp(round_shift(v * mult, shift) + zo, lo, hi)``; ``v`` int64, products formed in int64."""
    return clamp_to_int8(round_shift(v * np.asarray(mult, dtype=np.int64), shift), zo, lo, hi)
