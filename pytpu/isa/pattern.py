"""N-dimensional word address patterns: ``base + sum(i_d * stride_d)``, outermost dimension first."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

MAX_DIMS = 4
"""Dimensions a pattern may have."""

_ADDRESSES: dict[Pattern, np.ndarray] = {}
_ADDRESSES_KEPT = 1 << 14
"""Address arrays kept: a simulated program walks the same patterns once per batch element and run."""

_DIM_RE = re.compile(r"^(\d+):(-?\d+)$")


@dataclass(frozen=True, slots=True)
class Strided:
    """A pattern's words as an array view: ``counts`` and word ``strides`` from word ``base``; ``injective``
    when it walks no word twice (a view that can be written through)."""

    base: int
    counts: tuple[int, ...]
    strides: tuple[int, ...]
    injective: bool

    @classmethod
    def of(cls, pattern: Pattern) -> Strided:
        dims = [(count, stride) for count, stride in pattern.dims if count > 1]
        reach = 0  # the furthest the dimensions of smaller stride go
        injective = True
        for count, stride in sorted(dims, key=lambda d: abs(d[1])):
            injective = injective and abs(stride) > reach
            reach += (count - 1) * abs(stride)
        return cls(pattern.base, tuple(c for c, _ in dims), tuple(s for _, s in dims), injective)


@dataclass(frozen=True, slots=True)
class Pattern:
    """Word addresses ``base + sum(i_d * stride_d)`` for ``0 <= i_d < count_d``, walked row-major.

    ``dims`` is a tuple of ``(count, stride)`` pairs, outermost first; no dims is the single word ``base``.
    Text form: ``base`` or ``base[count:stride,count:stride]``, e.g. ``100[8:24,8:1]``.
    """

    base: int
    dims: tuple[tuple[int, int], ...] = ()
    _index: slice | np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    """:meth:`index`, kept on the pattern: a simulated program walks its patterns once per run."""
    _strided: Strided | bool | None = field(default=None, init=False, repr=False, compare=False)
    """:meth:`strided`, kept on the pattern (False when it is a run)."""

    @classmethod
    def contiguous(cls, base: int, count: int) -> Pattern:
        """``count`` consecutive words from ``base``."""
        return cls(base, ((count, 1),))

    @property
    def count(self) -> int:
        """Number of elements (words) the pattern walks."""
        n = 1
        for count, _ in self.dims:
            n *= count
        return n

    def span(self) -> tuple[int, int]:
        """Lowest and highest address the pattern touches (inclusive)."""
        lo = hi = self.base
        for count, stride in self.dims:
            reach = (count - 1) * stride
            if reach < 0:
                lo += reach
            else:
                hi += reach
        return lo, hi

    def addresses(self) -> np.ndarray:
        """Every address in walking order, as a flat int64 array (read-only: shared between calls)."""
        cached = _ADDRESSES.get(self)
        if cached is not None:
            return cached
        out = np.array([self.base], dtype=np.int64)
        for count, stride in self.dims:
            out = (out[:, None] + np.arange(count, dtype=np.int64) * stride).reshape(-1)
        out.flags.writeable = False
        if len(_ADDRESSES) >= _ADDRESSES_KEPT:
            _ADDRESSES.clear()
        _ADDRESSES[self] = out
        return out

    def index(self) -> slice | np.ndarray:
        """What indexes a memory's words in walking order: a slice when the pattern walks consecutive ascending
        words (most do; slicing is cheaper than gathering), else :meth:`addresses`."""
        if self._index is not None:
            return self._index
        out: slice | np.ndarray = slice(self.base, self.base + self.count) if self.is_run() else self.addresses()
        object.__setattr__(self, "_index", out)  # a cache, not a field: equality and hashing ignore it
        return out

    def strided(self) -> Strided | None:
        """The pattern as the counts and strides of an array view (None when it walks consecutive ascending
        words: :meth:`index` is a slice then).  Viewing memory this way is several times faster than gathering
        by :meth:`addresses`."""
        cached = self._strided
        if cached is None:
            cached = False if self.is_run() else Strided.of(self)
            object.__setattr__(self, "_strided", cached)  # a cache, not a field, as ``_index``
        return cached if isinstance(cached, Strided) else None

    def is_run(self) -> bool:
        """Whether the pattern walks consecutive ascending words."""
        step = 1
        for count, stride in reversed(self.dims):
            if count == 1:
                continue
            if stride != step:
                return False
            step *= count
        return True

    def __str__(self) -> str:
        if not self.dims:
            return str(self.base)
        return f"{self.base}[{','.join(f'{c}:{s}' for c, s in self.dims)}]"

    @classmethod
    def parse(cls, text: str) -> Pattern:
        """Inverse of ``str``; raises ValueError on malformed text."""
        head, bracket, rest = text.partition("[")
        base = int(head)
        if not bracket:
            return cls(base)
        if not rest.endswith("]"):
            raise ValueError(f"pattern {text!r} lacks its closing ']'")
        dims = []
        for part in rest[:-1].split(","):
            match = _DIM_RE.match(part)
            if match is None:
                raise ValueError(f"pattern dimension {part!r} is not count:stride")
            dims.append((int(match.group(1)), int(match.group(2))))
        return cls(base, tuple(dims))
