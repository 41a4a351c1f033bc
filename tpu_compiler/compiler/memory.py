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
    """A bump allocator over the cache words ``start..end`` one layer may use (above the weight stream,
    below the tensors kept in the cache); ``from_end``: the buffers are handed out from ``end`` down."""

    def __init__(self, start: int, end: int, cwl: int, layer: str, from_end: bool = False):
        self.start, self.end, self.cwl, self.layer, self.top = start, end, cwl, layer, start
        self.from_end = from_end

    @property
    def words(self) -> int:
        return self.end - self.start

    @property
    def free(self) -> int:
        return self.end - self.top

    def alloc(self, words: int, what: str) -> int:
        if words > self.free:
            raise CompilationError(
                f"layer {self.layer!r} cannot be placed: {what} needs {words} cache words "
                f"({words * self.cwl} bytes) but {self.free} of {self.words} are free"
            )
        at = self.top
        self.top += words
        return self.start + self.end - at - words if self.from_end else at


class Ring:
    """The weight stream: cache words handed out in program order from ``0`` up, wrapping around.

    Convolution constants go here instead of into their layer's arena, so a layer's weights can be loaded
    while earlier layers still compute: the dependency pass makes each load wait only for the readers of
    the words it overwrites, never for the layer before it as such.  How far up the stream reaches is the
    layer's (``limit``): below the buffers and kept tensors of the layer being lowered.
    """

    def __init__(self, words: int, cwl: int):
        self.words, self.cwl, self.head = words, cwl, 0

    def alloc(self, words: int, limit: int, what: str, layer: str) -> int:
        if words > limit:
            raise CompilationError(
                f"layer {layer!r} cannot be placed: {what} need {words} cache words ({words * self.cwl} bytes), "
                f"more than the {limit} words of the weight stream"
            )
        if self.head + words > limit:
            self.head = 0
        at = self.head
        self.head += words
        return at
