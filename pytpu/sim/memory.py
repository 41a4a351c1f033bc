"""Sparse word-addressed memory for the DDR channels (gigabytes of address space, megabytes used)."""

from __future__ import annotations

import numpy as np

_PAGE_BITS = 10
_PAGE_WORDS = 1 << _PAGE_BITS


class SparseMemory:
    """Words of ``cwl`` bytes, allocated a page at a time on first write; unwritten words read as zeros."""

    def __init__(self, cwl: int):
        self.cwl = cwl
        self._pages: dict[int, np.ndarray] = {}

    def read(self, words: np.ndarray) -> np.ndarray:
        """The words at the given addresses, shape ``(n, cwl)`` int8."""
        out = np.zeros((words.size, self.cwl), dtype=np.int8)
        pages = words >> _PAGE_BITS
        for page in np.unique(pages):
            store = self._pages.get(int(page))
            if store is not None:
                sel = pages == page
                out[sel] = store[words[sel] & (_PAGE_WORDS - 1)]
        return out

    def write(self, words: np.ndarray, values: np.ndarray) -> None:
        """Store ``values[i]`` (a whole word) at ``words[i]``."""
        pages = words >> _PAGE_BITS
        for page in np.unique(pages):
            store = self._pages.get(int(page))
            if store is None:
                store = self._pages[int(page)] = np.zeros((_PAGE_WORDS, self.cwl), dtype=np.int8)
            sel = pages == page
            store[words[sel] & (_PAGE_WORDS - 1)] = values[sel]

    def write_bytes(self, byte_address: int, data: np.ndarray) -> None:
        """Store bytes from a word-aligned address (the tail of the last word is zero-filled)."""
        raw = np.ascontiguousarray(data).view(np.int8).reshape(-1)
        words = -(-raw.size // self.cwl)
        padded = np.zeros(words * self.cwl, dtype=np.int8)
        padded[: raw.size] = raw
        first = byte_address // self.cwl
        self.write(np.arange(first, first + words, dtype=np.int64), padded.reshape(words, self.cwl))

    def read_bytes(self, byte_address: int, nbytes: int) -> np.ndarray:
        """``nbytes`` bytes (int8) from a word-aligned address."""
        first = byte_address // self.cwl
        words = -(-nbytes // self.cwl)
        return self.read(np.arange(first, first + words, dtype=np.int64)).reshape(-1)[:nbytes]

    @property
    def bytes_allocated(self) -> int:
        return len(self._pages) * _PAGE_WORDS * self.cwl
