"""What the simulated device holds: cache, accumulators, weight buffers, DDR, and deferred writes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pytpu.isa.fields import Limits, limits_of
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

    def apply(self, state: DeviceState) -> None:
        if self.target == CACHE:
            width = self.values.shape[1]
            if width == state.lim.cwl:
                state.cache[self.words] = self.values
            else:
                state.cache[self.words, self.off : self.off + width] = self.values
        else:
            state.ddr[self.target].write(self.words, self.values)


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
