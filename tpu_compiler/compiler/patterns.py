"""Address lists -> few patterns: the compiler's way of turning gather maps into instructions.

``compress([dst, src])`` walks parallel address arrays (element i of every array belongs together) and
cuts them into pieces that are affine in every array at once: 1-D runs first, then runs of equal length
whose bases advance evenly merge into 2-D patterns.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pytpu.isa.pattern import Pattern


def walk(base: int, *dims: tuple[int, int]) -> Pattern:
    """The pattern of ``dims`` (outermost first) from ``base``, without its single-element dimensions."""
    return Pattern(base, tuple(d for d in dims if d[0] > 1))


def _runs(columns: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of maximal 1-D runs, greedily from the front."""
    n = columns.shape[1]
    if n == 1:
        return [(0, 1)]
    diffs = np.diff(columns, axis=1)  # (arrays, n-1)
    changes = np.ones(n - 1, dtype=bool)
    changes[1:] = np.any(diffs[:, 1:] != diffs[:, :-1], axis=0)
    starts_of_diff_runs = np.flatnonzero(changes)
    runs = []
    i = 0
    while i < n:
        if i == n - 1:
            runs.append((i, 1))
            break
        # the diff run containing diff index i extends to the next change after i
        k = int(np.searchsorted(starts_of_diff_runs, i, side="right"))
        end = int(starts_of_diff_runs[k]) if k < len(starts_of_diff_runs) else n - 1
        runs.append((i, end - i + 1))
        i = end + 1
    return runs


def compress(arrays: Sequence[np.ndarray]) -> list[tuple[Pattern, ...]]:
    """Patterns (one per array) whose walks, one after the other, give the arrays."""
    columns = np.stack([np.asarray(a, dtype=np.int64) for a in arrays])
    runs = _runs(columns)
    out: list[tuple[Pattern, ...]] = []
    i = 0
    while i < len(runs):
        start, length = runs[i]
        strides = columns[:, start + 1] - columns[:, start] if length > 1 else np.zeros(len(arrays), np.int64)
        j = i + 1
        step = None
        while j < len(runs) and runs[j][1] == length:
            s2 = runs[j][0]
            other = columns[:, s2 + 1] - columns[:, s2] if length > 1 else strides
            delta = columns[:, s2] - columns[:, runs[j - 1][0]]
            if not np.array_equal(other, strides) or (step is not None and not np.array_equal(delta, step)):
                break
            step = delta
            j += 1
        rows = j - i
        patterns = []
        for a in range(len(arrays)):
            base = int(columns[a, start])
            dims: list[tuple[int, int]] = []
            if rows > 1:
                dims.append((rows, int(step[a]) if step is not None else 0))
            dims.append((length, int(strides[a])))
            patterns.append(Pattern(base, tuple(dims)))
        out.append(tuple(patterns))
        i = j
    return out
