"""The integer arithmetic contract of docs/integer_arithmetic.md, vectorised over int64 numpy arrays.

The output stage (``OutputStage``) works in place on the array it forms, so each step is one pass over
memory: it runs over every activation the device computes.
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


_FLOAT64_FROM = 1 << 14
"""Values from which the float64 path's cheaper passes pay for its bound check (fewer: numpy calls dominate)."""


def requantize_sum(
    v: np.ndarray, bias: ArrayLike, mult: ArrayLike, shift: ArrayLike, zo: int, lo: int, hi: int
) -> np.ndarray:
    """``requantize(v + bias, mult, shift, zo, lo, hi)`` for integer ``v`` (see :class:`OutputStage`)."""
    return OutputStage(bias, mult, shift).apply(v, zo, lo, hi)


class OutputStage:
    """``requantize(v + bias, mult, shift, zo, lo, hi)`` with its per-channel constants formed once.

    ``(v + bias) * mult + half == v * mult + (bias * mult + half)`` holds in int64 even where a product
    wraps (int64 arithmetic is modulo 2^64 either way), so bias and rounding fold into one constant.
    In int64, clamping to ``lo - zo .. hi - zo`` before adding ``zo`` lets the addition run on int8 (it
    lands in ``lo..hi``; the wrap of the int8 cast is undone by the addition, both being modulo 256).
    When every ``v * mult + constant`` (plus up to 255 * 2^shift, see :meth:`apply`) is below 2^53 in
    magnitude, float64 holds each exactly, scaling by 2^-shift is exact and ``floor`` is the arithmetic
    shift's rounding: fewer and cheaper passes.
    """

    __slots__ = ("_offsets", "constant", "float_constant", "float_mult", "largest", "mult", "shift")

    def __init__(self, bias: ArrayLike, mult: ArrayLike, shift: ArrayLike):
        self.mult = np.asarray(mult, dtype=np.int64)
        self.shift = np.asarray(shift, dtype=np.int64)
        self.constant = np.asarray(bias, dtype=np.int64) * self.mult + _half(self.shift)
        scale = np.ldexp(1.0, -self.shift)
        self.float_mult = self.mult * scale
        self.float_constant = self.constant * scale
        # The float64 path adds zo - lo (at most 255 in magnitude) to y: its bound includes that too.
        lifted = int(np.abs(self.constant).max(initial=0)) + (255 << int(self.shift.max(initial=0)))
        self.largest = (int(np.abs(self.mult).max(initial=0)), lifted)
        self._offsets: dict[tuple[int, int], np.ndarray] = {}

    def apply(self, v: np.ndarray, zo: int, lo: int, hi: int) -> np.ndarray:
        """The int8 codes of integer ``v`` (``v`` is not changed), each step in place."""
        if v.dtype.itemsize <= 4 and v.size >= _FLOAT64_FROM and self._exact_in_float64(v):
            # y = v * mult / 2^shift + constant / 2^shift is exact; the code is clamp(floor(y) + zo, lo, hi).
            # floor and clamp commute (lo, hi are integers), and on y + zo - lo clamped to 0..hi - lo the cast
            # to uint8 truncates, which is floor there; adding lo back modulo 256 gives the int8 code.
            scaled = v.astype(np.float64)  # then scaling in place: faster than numpy's mixed-type multiply
            scaled *= self.float_mult
            scaled += self._offset(zo, lo)
            np.clip(scaled, 0, hi - lo, out=scaled)
            codes = scaled.astype(np.uint8)
            codes += np.uint8(lo & 0xFF)
            return codes.view(np.int8)
        out = v.astype(np.int64)
        out *= self.mult
        out += self.constant
        out >>= self.shift
        np.maximum(out, lo - zo, out=out)
        np.minimum(out, hi - zo, out=out)
        codes = out.astype(np.int8)
        codes += np.int8(zo)
        return codes

    def _offset(self, zo: int, lo: int) -> np.ndarray:
        """``constant / 2^shift + zo - lo`` (float64; exact while the float64 path's values are)."""
        offset = self._offsets.get((zo, lo))
        if offset is None:
            offset = self._offsets[zo, lo] = self.float_constant + (zo - lo)
        return offset

    def _exact_in_float64(self, v: np.ndarray) -> bool:
        v_max = max(abs(int(v.max())), abs(int(v.min())))
        return v_max * self.largest[0] + self.largest[1] < 1 << 53
