"""The integer arithmetic contract of docs/integer_arithmetic.md, vectorised over int64 numpy arrays.

The output stage (``OutputStage``) runs over every activation the device computes: one compiled pass
(:mod:`pytpu.sim.kernels`).
"""

from __future__ import annotations

import numpy as np

from pytpu.sim import kernels

ArrayLike = np.ndarray | int
PerLane = tuple[np.ndarray, np.ndarray, np.ndarray]
"""An output stage's multiplier, constant and shift, one of each per lane (int64, C-contiguous)."""


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
    """``requantize(v + bias, mult, shift, zo, lo, hi)`` for integer ``v`` (see :class:`OutputStage`)."""
    return OutputStage(bias, mult, shift).apply(v, zo, lo, hi)


class OutputStage:
    """``requantize(v + bias, mult, shift, zo, lo, hi)`` with its per-channel constants formed once.

    ``(v + bias) * mult + half == v * mult + (bias * mult + half)`` holds in int64 even where a product
    wraps (int64 arithmetic is modulo 2^64 either way), so bias and rounding fold into one constant, and the
    stage is one compiled pass over ``v`` (:func:`pytpu.sim.kernels.output_stage`).
    """

    __slots__ = ("_per_lane", "constant", "mult", "shift")

    def __init__(self, bias: ArrayLike, mult: ArrayLike, shift: ArrayLike):
        self.mult = np.asarray(mult, dtype=np.int64)
        self.shift = np.asarray(shift, dtype=np.int64)
        self.constant = np.asarray(bias, dtype=np.int64) * self.mult + _half(self.shift)
        self._per_lane: dict[int, PerLane] = {}

    def apply(self, v: np.ndarray, zo: int, lo: int, hi: int) -> np.ndarray:
        """The int8 codes of integer ``v`` (``v`` is not changed; constants broadcast against it)."""
        v = np.asarray(v)
        if not v.size:
            return np.empty(np.broadcast_shapes(v.shape, self.mult.shape, self.shift.shape), dtype=np.int8)
        per_lane = self._lanes(v.shape[-1]) if v.ndim == 2 else None
        if per_lane is None:  # anything but rows of lanes: every value with its own constants, as one row
            *expanded, v = np.broadcast_arrays(self.mult, self.constant, self.shift, v)
            mult, constant, shift = (c.reshape(1, -1)[0].copy() for c in expanded)
            per_lane = (mult, constant, shift)
        out = np.empty(v.shape, dtype=np.int8)
        rows = np.ascontiguousarray(v).reshape(-1, per_lane[0].size)
        kernels.output_stage(rows, 0, *per_lane, int(zo), int(lo), int(hi), out.reshape(rows.shape))
        return out

    def apply_at(self, block: np.ndarray, row: int, n: int, m: int, zo: int, lo: int, hi: int) -> np.ndarray:
        """:meth:`apply` to rows ``row..row+n``, columns ``:m`` of a C-contiguous integer ``block``."""
        out = np.empty((n, m), dtype=np.int8)
        kernels.output_stage(block, row, *self._per_lane_of(m), int(zo), int(lo), int(hi), out)
        return out

    def _per_lane_of(self, lanes: int) -> PerLane:
        per_lane = self._lanes(lanes)
        if per_lane is None:
            raise ValueError(f"constants of shape {self.mult.shape} are not per lane of {lanes} lanes")
        return per_lane

    def _lanes(self, lanes: int) -> PerLane | None:
        """Multiplier, constant and shift per lane of rows of ``lanes`` lanes (None: the constants are not per lane)."""
        per_lane = self._per_lane.get(lanes)
        if per_lane is None:
            constants = (self.mult, self.constant, self.shift)
            if not all(c.ndim <= 1 and c.size in (1, lanes) for c in constants):
                return None
            mult, constant, shift = (np.ascontiguousarray(np.broadcast_to(c.reshape(-1), (lanes,))) for c in constants)
            per_lane = self._per_lane[lanes] = (mult, constant, shift)
        return per_lane
