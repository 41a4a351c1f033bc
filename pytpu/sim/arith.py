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
    In int64, clamping to ``lo - zo .. hi - zo`` before adding ``zo`` lets the addition run on int8 (it
    lands in ``lo..hi``; the wrap of the int8 cast is undone by the addition, both being modulo 256).
    """
    mult = np.asarray(mult, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    constant = np.asarray(bias, dtype=np.int64) * mult + _half(shift)
    if v.dtype.itemsize <= 4 and v.size and _exact_in_float64(v, mult, constant):
        scaled = _shifted_float64(v, mult, constant, shift)
        scaled += zo
        np.maximum(scaled, lo, out=scaled)
        np.minimum(scaled, hi, out=scaled)
        return scaled.astype(np.int8)  # in range: exact
    out = v.astype(np.int64)  # a copy: v is not changed
    out *= mult
    out += constant
    out >>= shift
    np.maximum(out, lo - zo, out=out)
    np.minimum(out, hi - zo, out=out)
    codes = out.astype(np.int8)
    codes += np.int8(zo)
    return codes


def _exact_in_float64(v: np.ndarray, mult: np.ndarray, constant: np.ndarray) -> bool:
    """Whether every ``v * mult + constant`` is below 2^53 in magnitude (so float64 holds it exactly)."""
    v_max = max(abs(int(v.max())), abs(int(v.min())))
    return v_max * int(np.abs(mult).max()) + int(np.abs(constant).max()) < 1 << 53


def _shifted_float64(v: np.ndarray, mult: np.ndarray, constant: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``(v * mult + constant) >> shift`` in float64, exact when :func:`_exact_in_float64`: scaling by 2^-shift
    is exact and ``floor`` is the arithmetic shift's rounding.  Fewer and cheaper passes than int64."""
    scale = np.ldexp(1.0, -shift)
    out = v.astype(np.float64)
    out *= mult * scale
    out += constant * scale
    return np.floor(out, out=out)
