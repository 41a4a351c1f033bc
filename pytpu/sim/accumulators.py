"""The ME's int32 accumulators, with GEMM products summed lazily.

A convolution's output rows are the sum of many GEMMs, one per K tile, each ``N x K @ K x M`` with K at
most the array's rows.  Multiplying them one by one spends most of the simulator's time in BLAS calls on
small matrices.  Here a GEMM only records its inputs (a copy of the activation rows as they are when it
runs, and its weight tile's int8 codes); the sums are formed when a DRAIN reads the rows, or anything else
touches them, as one product of the concatenated inputs, each converted to floats as it is concatenated:
``[x1 x2 ..] @ [w1; w2; ..]``.

A tile whose only nonzero codes lie on its diagonal (a depthwise convolution's: each input lane feeds
its own output lane) contributes ``x[:, j] * w[j, j]`` to column ``j``: such terms are summed lane-wise
instead of multiplied as matrices, which for MobileNet-like models is most of the work (128 times fewer
operations per term).

Exactness: int8 codes multiply to at most 2^14 in magnitude, so a float32 sum of up to 1,024 products is
exact whatever order BLAS adds in (every partial sum is an integer of at most 2^24); longer sums are
split into chunks of that many and added in int64.  Adding in int64 and wrapping to int32 once equals
wrapping after every GEMM, as the hardware does, because wrapping is addition modulo 2^32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pytpu.sim.blas import matmul

EXACT_FLOAT32_TERMS = (1 << 24) // (128 * 128)
"""Products of int8 codes a float32 sum holds exactly."""


@dataclass(slots=True)
class _Sum:
    """Pending GEMMs into rows ``start..start+n`` and columns ``:m``; ``onto`` adds them to what the rows hold."""

    start: int
    n: int
    m: int
    onto: bool
    xs: list[np.ndarray] = field(default_factory=list)
    ws: list[np.ndarray] = field(default_factory=list)
    diagonals: list[np.ndarray | None] = field(default_factory=list)

    def overlaps(self, start: int, n: int) -> bool:
        return start < self.start + self.n and self.start < start + n


class Accumulators:
    """``rows x columns`` int32 accumulators; ``gemm`` records a product, ``read`` settles and returns rows."""

    def __init__(self, rows: int, columns: int):
        self._acc = np.zeros((rows, columns), dtype=np.int32)
        self._pending: list[_Sum] = []

    def gemm(
        self, start: int, x: np.ndarray, w: np.ndarray, accumulate: bool, diagonal: np.ndarray | None = None
    ) -> None:
        """``acc[start:start+n, :m] (+)= x @ w`` for int8 rows ``x`` (``n x k``) and int8 tile ``w`` (``k x m``).

        Both are kept until the sum is formed: the caller must not change them.  ``diagonal``, when given, is
        ``w``'s diagonal (float32) and says every other code of ``w`` is zero.
        """
        n, m = x.shape[0], w.shape[1]
        if accumulate and len(self._pending) == 1:  # the common case: the next K tile of the one pending sum
            last = self._pending[0]
            if last.start == start and last.n == n and last.m == m:
                last.xs.append(x)
                last.ws.append(w)
                last.diagonals.append(diagonal)
                return
        same: _Sum | None = None
        for pending in list(self._pending):
            if not pending.overlaps(start, n):
                continue
            if (pending.start, pending.n, pending.m) == (start, n, m):
                same = pending
            else:
                self._settle(pending)
        if same is not None and not accumulate:
            self._pending.remove(same)  # overwritten before anything read it
            same = None
        if same is None:
            same = _Sum(start, n, m, onto=bool(accumulate))
            self._pending.append(same)
        same.xs.append(x)
        same.ws.append(w)
        same.diagonals.append(diagonal)

    def read(self, start: int, n: int, m: int) -> np.ndarray:
        """Rows ``start..start+n``, columns ``:m`` (a view: valid until the next GEMM)."""
        for pending in list(self._pending):
            if pending.overlaps(start, n):
                self._settle(pending)
        return self._acc[start : start + n, :m]

    @property
    def values(self) -> np.ndarray:
        """Every accumulator, all pending sums formed."""
        for pending in list(self._pending):
            self._settle(pending)
        return self._acc

    def set(self, start: int, n: int, m: int, values: np.ndarray) -> None:
        """``acc[start:start+n, :m] = values``, an integer-valued sum from :func:`summed` (any sum pending on these
        rows is formed first, then overwritten: as GEMMs that do not accumulate would leave them)."""
        self.read(start, n, m)
        _store(self._acc[start : start + n, :m], values, onto=False)

    def settled(self, start: int, n: int) -> np.ndarray:
        """Every accumulator (C-contiguous, read in place), the sums pending on rows ``start..start+n`` formed."""
        self.read(start, n, 0)
        return self._acc

    def _settle(self, pending: _Sum) -> None:
        self._pending.remove(pending)
        rows = self._acc[pending.start : pending.start + pending.n, : pending.m]
        _store(rows, summed(pending.n, pending.m, pending.xs, pending.ws, pending.diagonals), pending.onto)


Tiles = np.ndarray | tuple[np.ndarray, ...]
"""An int8 ``k x m`` tile, or tiles of ``k`` rows side by side (``m`` columns in all)."""


def summed(
    n: int, m: int, xs: list[np.ndarray], ws: Sequence[Tiles], diagonals: Sequence[np.ndarray | None]
) -> np.ndarray:
    """``sum(x @ w)`` over the terms (``n x m``): float32 holding integers if one exact float32 sum took it all,
    else int64.  Each ``x`` is int8 ``n x k`` or a view whose leading axes are the rows in row-major order, each
    ``w`` int8 ``k x m`` tiles; a diagonal, when given, is its (single) tile's (see :meth:`Accumulators.gemm`)."""
    terms = list(zip(xs, ws, diagonals, strict=True))
    chunks = _lanewise_chunks([(x, d) for x, _, d in terms if d is not None], n, m)
    dense = [(x, w) for x, w, d in terms if d is None]
    chunks += _chunks([x for x, _ in dense], [w for _, w in dense], n)
    if len(chunks) == 1:
        return chunks[0]
    return sum((c.astype(np.int64) for c in chunks), np.zeros((n, m), dtype=np.int64))


def _store(rows: np.ndarray, values: np.ndarray, onto: bool) -> None:
    """``rows (+)= values`` in int32, wrapping like the hardware's accumulators (``values`` is not changed)."""
    if values.dtype == np.float32:  # integers of at most 2^24 in magnitude: exact in int32
        if onto:
            rows += values.astype(np.int32)
        else:
            np.copyto(rows, values, casting="unsafe")
    elif onto:
        rows[...] = (values + rows).astype(np.int32)  # wraps modulo 2^32
    else:
        rows[...] = values.astype(np.int32)


def _rows(x: np.ndarray) -> np.ndarray:
    """``x`` as ``n x k`` (its leading axes are the rows, row-major)."""
    return x if x.ndim == 2 else x.reshape(-1, x.shape[-1])


def _lanewise_chunks(terms: list[tuple[np.ndarray, np.ndarray]], n: int, m: int) -> list[np.ndarray]:
    """Sums of ``(x, diagonal)`` terms lane by lane, ``x[:, j] * w[j, j]``, at most EXACT_FLOAT32_TERMS per sum."""
    out: list[np.ndarray] = []
    for first in range(0, len(terms), EXACT_FLOAT32_TERMS):
        total = np.zeros((n, m), dtype=np.float32)
        for x, diagonal in terms[first : first + EXACT_FLOAT32_TERMS]:
            total[:, : diagonal.size] += _rows(x)[:, : diagonal.size] * diagonal
        out.append(total)
    return out


def _side_by_side(xs: list[np.ndarray], n: int, depth: int) -> np.ndarray:
    """``[x1 x2 ..]`` as float32 ``n x depth``, each term cast as it is copied in (no intermediate copies, also
    from strided views whose leading axes are the rows)."""
    if len(xs) == 1 and xs[0].ndim == 2:
        return xs[0].astype(np.float32)
    out = np.empty((n, depth), dtype=np.float32)
    column = 0
    for x in xs:
        k = x.shape[-1]
        np.copyto(np.reshape(out[:, column : column + k], x.shape, copy=False), x, casting="safe")
        column += k
    return out


def _stacked(ws: Sequence[Tiles], depth: int, dtype: type = np.float32) -> np.ndarray:
    """``[w1; w2; ..]`` as ``depth x m`` floats, each tile cast as it is copied in."""
    if not any(isinstance(w, tuple) for w in ws):  # single tiles: one concatenation (faster than a copy each)
        return np.concatenate(ws, axis=0, dtype=dtype)
    first = ws[0]
    m = sum(t.shape[1] for t in first) if isinstance(first, tuple) else first.shape[1]
    out = np.empty((depth, m), dtype=dtype)
    row = 0
    for w in ws:
        column = 0
        for tile in w if isinstance(w, tuple) else (w,):
            k, width = tile.shape
            out[row : row + k, column : column + width] = tile
            column += width
        row += k
    return out


def _chunks(xs: list[np.ndarray], ws: Sequence[Tiles], n: int) -> list[np.ndarray]:
    """Products of consecutive terms (``n`` rows each), each over at most EXACT_FLOAT32_TERMS inputs summed in one
    matmul."""
    out: list[np.ndarray] = []
    i = 0
    while i < len(xs):
        if xs[i].shape[-1] > EXACT_FLOAT32_TERMS:  # a tile too deep for an exact float32 sum (not on 128x128)
            x = _rows(xs[i]).astype(np.float64)
            out.append(matmul(x, _stacked(ws[i : i + 1], x.shape[1], np.float64)))
            i += 1
            continue
        j, depth = i, 0
        while j < len(xs) and depth + xs[j].shape[-1] <= EXACT_FLOAT32_TERMS:
            depth += xs[j].shape[-1]
            j += 1
        x = _side_by_side(xs[i:j], n, depth)
        out.append(matmul(x, _stacked(ws[i:j], depth)))
        i = j
    return out
