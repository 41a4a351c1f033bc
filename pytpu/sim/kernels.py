"""Compiled loops for the simulator's per-activation arithmetic (numba).

numpy spends one pass over memory per operation: the output stage (widen, multiply, add, shift, clamp, add,
narrow) takes six or more over every activation a model computes, about a fifth of a ResNet-50 replay.  A
compiled loop does the whole stage in one pass, in int64 as the contract of docs/integer_arithmetic.md states
it, with no bound check to choose a cheaper representation.  Kernels compile on first use and are cached on
disk (``cache=True``), so a later process loads them.  They release the GIL: the runtime's devices run on
worker threads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numba import njit

F = TypeVar("F", bound=Callable[..., Any])
Int = int | np.integer[Any]


def _compiled(fn: F) -> F:
    """``fn`` compiled on first use for the argument types it gets (cached on disk, without the GIL)."""
    return cast(F, njit(cache=True, nogil=True)(fn))


@njit(cache=True, nogil=True, inline="always")
def _code(v: Int, mult: Int, constant: Int, shift: Int, zo: Int, lo: Int, hi: Int) -> Int:
    """One activation's code (before the cast to int8)."""
    y = ((v * mult + constant) >> shift) + zo
    return lo if y < lo else (hi if y > hi else y)


@_compiled
def output_stage(
    v: np.ndarray,
    row: int,
    mult: np.ndarray,
    constant: np.ndarray,
    shift: np.ndarray,
    zo: int,
    lo: int,
    hi: int,
    out: np.ndarray,
) -> None:
    """``out[i, j] = clamp(((x * mult[j] + constant[j]) >> shift[j]) + zo, lo, hi)`` in int64, as int8, where
    ``x = v[row + i, j]``.

    ``v`` holds integers (an integer dtype, or floats holding integers); the constants have an entry per
    column of ``out``; products wrap modulo 2^64 as numpy's int64 arithmetic does.  Every array is C-contiguous
    and the indexes unsigned (no negative-index wraparound to check), so the inner loop vectorises.
    """
    n, m = out.shape
    first = np.uint64(row)
    for i in range(n):
        for j in range(m):
            x = np.int64(v[first + np.uint64(i), np.uint64(j)])
            out[i, j] = _code(x, mult[j], constant[j], shift[j], zo, lo, hi)


@_compiled
def look_up_pairs(a: np.ndarray, b: np.ndarray, table: np.ndarray, out: np.ndarray) -> None:
    """``out[i, j] = table[byte(a[i, j]) * 256 + byte(b[i, j])]`` for int8 ``a``, ``b`` and a 65,536-entry table."""
    n, m = a.shape
    for i in range(n):
        for j in range(m):
            out[i, j] = table[(np.int32(np.uint8(a[i, j])) << 8) | np.int32(np.uint8(b[i, j]))]
