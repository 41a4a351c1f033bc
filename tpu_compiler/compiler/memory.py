"""Where things live: constants and activations in DDR, per-layer buffers in the cache."""

from __future__ import annotations

import numpy as np

from pytpu.errors import CompilationError


class Constants:
    """Constant words (weight tiles, output-stage blocks, tables) laid out one after the other in DDR."""

    def __init__(self, cwl: int, channel: int):
        self.cwl, self.channel = cwl, channel
        self._chunks: list[np.ndarray] = []
        self.words = 0
        self._known: dict[bytes, int] = {}

    def add(self, words: np.ndarray) -> int:
        """DDR word address of ``words`` ((n, cwl) int8), stored once per distinct content."""
        key = words.tobytes()
        if key in self._known:
            return self._known[key]
        at = self.words
        self._chunks.append(np.ascontiguousarray(words, dtype=np.int8))
        self.words += len(words)
        self._known[key] = at
        return at

    def data(self) -> np.ndarray:
        if not self._chunks:
            return np.zeros(self.cwl, dtype=np.int8)
        return np.concatenate(self._chunks).reshape(-1)


class Arena:
    """A bump allocator over the cache words one layer may use (below the tensors kept in the cache)."""

    def __init__(self, words: int, cwl: int, layer: str):
        self.words, self.cwl, self.layer, self.top = words, cwl, layer, 0

    @property
    def free(self) -> int:
        return self.words - self.top

    def alloc(self, words: int, what: str) -> int:
        if words > self.free:
            raise CompilationError(
                f"layer {self.layer!r} cannot be placed: {what} needs {words} cache words "
                f"({words * self.cwl} bytes) but {self.free} of {self.words} are free"
            )
        at = self.top
        self.top += words
        return at
