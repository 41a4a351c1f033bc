"""Sparse word-addressed memory for the DDR channels (gigabytes of address space, megabytes used)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

_PAGE_BITS = 10
_PAGE_WORDS = 1 << _PAGE_BITS


class SparseMemory:
    """Words of ``cwl`` bytes, allocated a page at a time on first write; unwritten words read as zeros.

    Pages can also be read-only views of a caller's array (:meth:`share_bytes`), copied on first write.
    """

    def __init__(self, cwl: int):
        self.cwl = cwl
        self._pages: dict[int, np.ndarray] = {}

    def read(self, words: slice | np.ndarray) -> np.ndarray:
        """The words at the given addresses (or slice of consecutive words), shape ``(n, cwl)`` int8."""
        if isinstance(words, slice):
            return self.read_run(words.start, words.stop - words.start)
        if _is_run(words):
            return self.read_run(int(words[0]), words.size)
        out = np.zeros((words.size, self.cwl), dtype=np.int8)
        pages = words >> _PAGE_BITS
        for page in np.unique(pages):
            store = self._pages.get(int(page))
            if store is not None:
                sel = pages == page
                out[sel] = store[words[sel] & (_PAGE_WORDS - 1)]
        return out

    def write(self, words: slice | np.ndarray, values: np.ndarray) -> None:
        """Store ``values[i]`` (a whole word) at ``words[i]`` (addresses, or a slice of consecutive words)."""
        if isinstance(words, slice):
            self.write_run(words.start, values)
            return
        if _is_run(words):
            self.write_run(int(words[0]), values)
            return
        pages = words >> _PAGE_BITS
        for page in np.unique(pages):
            store = self._writable(int(page))
            sel = pages == page
            store[words[sel] & (_PAGE_WORDS - 1)] = values[sel]

    def read_run(self, first: int, count: int) -> np.ndarray:
        """``count`` consecutive words from word ``first``, page by page (a view, not a copy, when they lie in
        one shared page: its words never change, a write copies the page)."""
        pieces = list(_pieces(first, count))
        if len(pieces) == 1:
            page, lo, hi, _ = pieces[0]
            store = self._pages.get(page)
            if store is not None and not store.flags.writeable:
                return store[lo:hi]
        out = np.empty((count, self.cwl), dtype=np.int8)
        for page, lo, hi, at in pieces:
            store = self._pages.get(page)
            if store is None:
                out[at : at + hi - lo] = 0
            else:
                out[at : at + hi - lo] = store[lo:hi]
        return out

    def write_run(self, first: int, values: np.ndarray) -> None:
        """Store ``values`` (whole words) at consecutive words from word ``first``, page by page."""
        for page, lo, hi, at in _pieces(first, len(values)):
            self._writable(page)[lo:hi] = values[at : at + hi - lo]

    def _writable(self, page: int) -> np.ndarray:
        """The page's words, allocated if new and copied if shared."""
        store = self._pages.get(page)
        if store is None:
            store = self._pages[page] = np.zeros((_PAGE_WORDS, self.cwl), dtype=np.int8)
        elif not store.flags.writeable:
            store = self._pages[page] = store.copy()
        return store

    def write_bytes(self, byte_address: int, data: np.ndarray) -> None:
        """Store bytes from a word-aligned address (the tail of the last word is zero-filled)."""
        raw = np.ascontiguousarray(data).view(np.int8).reshape(-1)
        words = -(-raw.size // self.cwl)
        padded = np.zeros(words * self.cwl, dtype=np.int8)
        padded[: raw.size] = raw
        self.write_run(byte_address // self.cwl, padded.reshape(words, self.cwl))

    def share_bytes(self, byte_address: int, data: np.ndarray) -> None:
        """:meth:`write_bytes`, except that whole pages of ``data`` are read in place (no copy until written).

        ``data`` must not change while this memory is in use (a program's constants do not).
        """
        raw = np.ascontiguousarray(data).view(np.int8).reshape(-1)
        first, words = byte_address // self.cwl, raw.size // self.cwl
        page_bytes = _PAGE_WORDS * self.cwl
        head = min(-first % _PAGE_WORDS, words)  # words before the first page boundary
        pages = (words - head) // _PAGE_WORDS
        self.write_bytes(byte_address, raw[: head * self.cwl])
        for p in range(pages):
            at = (head + p * _PAGE_WORDS) * self.cwl
            view = raw[at : at + page_bytes].reshape(_PAGE_WORDS, self.cwl)
            view.flags.writeable = False
            self._pages[(first + head) // _PAGE_WORDS + p] = view
        tail = (head + pages * _PAGE_WORDS) * self.cwl
        if tail < raw.size:
            self.write_bytes(byte_address + tail, raw[tail:])

    def read_bytes(self, byte_address: int, nbytes: int) -> np.ndarray:
        """``nbytes`` bytes (int8) from a word-aligned address."""
        first = byte_address // self.cwl
        words = -(-nbytes // self.cwl)
        out = self.read_run(first, words)
        return (out if out.flags.writeable else out.copy()).reshape(-1)[:nbytes]  # the caller's own bytes

    @property
    def bytes_allocated(self) -> int:
        return len(self._pages) * _PAGE_WORDS * self.cwl


def _is_run(words: np.ndarray) -> bool:
    """Whether the addresses are consecutive and ascending (most DMA transfers)."""
    n = words.size
    return n > 0 and int(words[-1]) - int(words[0]) == n - 1 and (n < 3 or bool(np.all(np.diff(words) == 1)))


def _pieces(first: int, count: int) -> Iterator[tuple[int, int, int, int]]:
    """``(page, lo, hi, at)``: words ``lo..hi`` of ``page`` hold words ``at..`` of a run from ``first``."""
    at = 0
    while at < count:
        word = first + at
        page, lo = word >> _PAGE_BITS, word & (_PAGE_WORDS - 1)
        hi = min(_PAGE_WORDS, lo + count - at)
        yield page, lo, hi, at
        at += hi - lo
