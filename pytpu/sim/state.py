"""What the simulated device holds: cache, accumulators, weight buffers, DDR, and deferred writes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pytpu.isa.fields import Limits, limits_of
from pytpu.isa.pattern import Pattern, Strided
from pytpu.params import ModelParameters
from pytpu.sim.accumulators import Accumulators
from pytpu.sim.memory import SparseMemory

CACHE = -1
"""``Write.target`` of the cache; DDR channels are 0, 1, ..."""


@dataclass(slots=True)
class WeightTile:
    """A weight buffer's content: the tile's int8 codes, and its diagonal if that is all."""

    k: int
    m: int
    codes: np.ndarray
    diagonal: np.ndarray | None = None
    """The tile's diagonal (float32) when every other code is zero, else None."""


@dataclass(slots=True)
class Write:
    """A write that lands when its instruction completes: bytes ``off..off+len`` of each word."""

    target: int
    words: slice | np.ndarray
    """A slice of consecutive words or their addresses (see ``Pattern.index``)."""
    off: int
    values: np.ndarray
    strided: Strided | None = None
    """The words as a view of the cache, when they are not a slice and no word comes twice (faster to write
    through than indexing by addresses)."""

    def apply(self, state: DeviceState) -> None:
        if self.target != CACHE:
            state.ddr[self.target].write(self.words, self.values)
            return
        width = self.values.shape[1]
        if self.strided is not None:
            view = state.strided_view(self.strided, self.off, width)
            view[...] = self.values.reshape(view.shape)
        elif width == state.lim.cwl:
            state.cache[self.words] = self.values
        else:
            state.cache[self.words, self.off : self.off + width] = self.values


def cache_write(pattern: Pattern, off: int, values: np.ndarray) -> Write:
    """A write of ``values`` (one row per word the pattern walks) to bytes ``off..`` of those cache words."""
    strided = pattern.strided()
    return Write(CACHE, pattern.index(), off, values, strided if strided is not None and strided.injective else None)


class DeviceState:
    """Memories of one simulated device; the cache and accumulators start zeroed."""

    def __init__(self, hw: ModelParameters):
        self.hw = hw
        self.lim: Limits = limits_of(hw)
        tpu = hw.tpu_parameters
        self.cache = np.zeros((self.lim.cache_words, self.lim.cwl), dtype=np.int8)
        self.accumulators = Accumulators(tpu.accumulator_rows, tpu.array_columns)
        self.weights: list[WeightTile | None] = [None] * tpu.weight_buffers
        self.ddr = [SparseMemory(self.lim.cwl) for _ in range(hw.ddr.channels)]
        self.ahead: dict[int, np.ndarray] = {}  # products a replay formed ahead for later DRAINs, by their step
        self.kept: dict[int, tuple[np.ndarray, int]] = {}  # tiles LOADWs keep for a replay: (codes, reads left)

    @property
    def acc(self) -> np.ndarray:
        """The accumulators, every pending GEMM summed."""
        return self.accumulators.values

    def read_cache(self, words: slice | np.ndarray, off: int = 0, length: int | None = None) -> np.ndarray:
        """Bytes ``off..off+length`` of the given words (a slice or addresses), shape ``(n, length)`` int8 (a copy)."""
        out = self.view_cache(words, off, length)
        return out.copy() if isinstance(words, slice) else out

    def view_cache(self, words: slice | np.ndarray, off: int = 0, length: int | None = None) -> np.ndarray:
        """:meth:`read_cache` without the copy where the words are a slice: for reading at once, not keeping."""
        if length is None or (off == 0 and length == self.lim.cwl):
            return self.cache[words]
        return self.cache[words, off : off + length]

    def view_pattern(self, pattern: Pattern, off: int = 0, length: int | None = None) -> np.ndarray:
        """Bytes ``off..off+length`` of the words ``pattern`` walks, shape ``(n, length)``: a view of the cache
        where the words are consecutive or the strided view flattens to one, else a copy (for reading at once,
        not keeping)."""
        strided = pattern.strided()
        if strided is None:
            return self.view_cache(pattern.index(), off, length)
        length = self.lim.cwl - off if length is None else length
        return self.strided_view(strided, off, length).reshape(-1, length)

    def read_pattern(self, pattern: Pattern, off: int = 0, length: int | None = None) -> np.ndarray:
        """:meth:`view_pattern` as a copy."""
        out = self.view_pattern(pattern, off, length)
        return out.copy() if np.may_share_memory(out, self.cache) else out

    def strided_view(self, strided: Strided, off: int, length: int) -> np.ndarray:
        """Bytes ``off..off+length`` of the words as an array view ``(*counts, length)`` of the cache."""
        cwl = self.lim.cwl
        shape = (*strided.counts, length)
        strides = (*(s * cwl for s in strided.strides), 1)
        return np.ndarray(shape, np.int8, self.cache, strided.base * cwl + off, strides)
