"""How constants are laid out in cache words: weight tiles, output-stage parameters, lookup tables.

The compiler packs with these functions and the simulated device unpacks with them, so the layout is
defined once.  All multi-byte values are little-endian.
"""

from __future__ import annotations

import numpy as np

from pytpu.isa.fields import LUT_ENTRIES


def words_for(nbytes: int, cwl: int) -> int:
    """Whole words needed for ``nbytes`` bytes."""
    return -(-nbytes // cwl)


def to_words(data: np.ndarray, cwl: int) -> np.ndarray:
    """Raw bytes of ``data`` padded with zeros to whole words, shaped ``(words, cwl)`` int8."""
    raw = np.ascontiguousarray(data).view(np.int8).reshape(-1)
    out = np.zeros(words_for(raw.size, cwl) * cwl, dtype=np.int8)
    out[: raw.size] = raw
    return out.reshape(-1, cwl)


def weight_tile_words(k: int, m: int, cwl: int) -> int:
    """Words of a K x M int8 tile stored densely, row-major."""
    return words_for(k * m, cwl)


def pack_weight_tile(tile: np.ndarray, cwl: int) -> np.ndarray:
    """A K x M int8 tile as ``weight_tile_words(K, M)`` words: byte ``k * M + m`` holds ``tile[k, m]``."""
    return to_words(np.asarray(tile, dtype=np.int8), cwl)


def weight_tile_at(memory: np.ndarray, word: int, k: int, m: int) -> np.ndarray:
    """The K x M tile stored from word ``word`` of ``memory`` (C-contiguous words), as a view of it."""
    return np.ndarray((k, m), np.int8, memory, word * memory.shape[1])


def output_stage_sections(m: int, cwl: int) -> tuple[int, int, int]:
    """Words of the bias (int32), multiplier (int32) and shift (uint8) sections for M channels."""
    wide = words_for(4 * m, cwl)
    return wide, wide, words_for(m, cwl)


def output_stage_words(m: int, cwl: int) -> int:
    """Words of the parameter block a DRAIN of M channels reads."""
    return sum(output_stage_sections(m, cwl))


def pack_sections(arrays: tuple[np.ndarray, ...], dtypes: tuple[str, ...], cwl: int) -> np.ndarray:
    """Per-channel arrays as consecutive word-aligned little-endian sections of the given dtypes."""
    return np.concatenate([to_words(np.asarray(a, dtype=d), cwl) for a, d in zip(arrays, dtypes, strict=True)])


def unpack_sections(words: np.ndarray, n: int, dtypes: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """The first ``n`` entries of each section :func:`pack_sections` wrote, each as int64."""
    cwl = words.shape[1]
    flat = np.ascontiguousarray(words).reshape(-1)
    out, start = [], 0
    for dtype in dtypes:
        size = np.dtype(dtype).itemsize
        out.append(flat[start : start + n * size].view(dtype).astype(np.int64))
        start += words_for(size * n, cwl) * cwl
    return tuple(out)


_OUTPUT_STAGE = ("<i4", "<i4", "u1")


def pack_output_stage(bias: np.ndarray, mult: np.ndarray, shift: np.ndarray, cwl: int) -> np.ndarray:
    """The parameter block: bias int32[M], then mult int32[M], then shift uint8[M], each section word aligned."""
    return pack_sections((bias, mult, shift), _OUTPUT_STAGE, cwl)


def unpack_output_stage(words: np.ndarray, m: int) -> tuple[np.ndarray, ...]:
    """bias, mult, shift (each int64[M]) from a parameter block."""
    return unpack_sections(words, m, _OUTPUT_STAGE)


def pack_lut(table: np.ndarray, cwl: int) -> np.ndarray:
    """A 256-entry int8 table as words: byte ``a + 128`` holds the result for code ``a``."""
    table = np.asarray(table, dtype=np.int8).reshape(-1)
    if table.size != LUT_ENTRIES:
        raise ValueError(f"a lookup table has {LUT_ENTRIES} entries, not {table.size}")
    return to_words(table, cwl)


TABLE32_ENTRIES = 256
"""Entries of an int32 table: a softmax's exponentials (entry ``d + 255`` for ``d = a - max`` in ``[-255, 0]``)
or a layer normalisation's reciprocal square roots (entry ``m >> 8``)."""


def table32_words(cwl: int) -> int:
    """Words of an int32 table."""
    return words_for(4 * TABLE32_ENTRIES, cwl)


def pack_table32(table: np.ndarray, cwl: int) -> np.ndarray:
    """An int32 table of 256 entries, little-endian, as words."""
    table = np.asarray(table, dtype="<i4").reshape(-1)
    if table.size != TABLE32_ENTRIES:
        raise ValueError(f"an int32 table has {TABLE32_ENTRIES} entries, not {table.size}")
    return to_words(table, cwl)


def unpack_table32(words: np.ndarray) -> np.ndarray:
    """The int32 entries (as int64) of a packed int32 table."""
    return np.ascontiguousarray(words).reshape(-1)[: 4 * TABLE32_ENTRIES].view("<i4").astype(np.int64)


def lane_mults_words(cwl: int) -> int:
    """Words of a block of one int32 multiplier per lane of a word (``PRELU``'s negative multipliers)."""
    return words_for(4 * cwl, cwl)


def pack_lane_mults(mults: np.ndarray, cwl: int) -> np.ndarray:
    """At most ``cwl`` int32 multipliers, entry ``l`` for lane ``l``, little-endian; missing lanes hold 0."""
    values = np.zeros(cwl, dtype="<i4")
    mults = np.asarray(mults, dtype="<i4").reshape(-1)
    if mults.size > cwl:
        raise ValueError(f"a lane multiplier block has {cwl} entries, not {mults.size}")
    values[: mults.size] = mults
    return to_words(values, cwl)


def unpack_lane_mults(words: np.ndarray, cwl: int) -> np.ndarray:
    """The ``cwl`` int32 multipliers (as int64) of a lane multiplier block."""
    return np.ascontiguousarray(words).reshape(-1)[: 4 * cwl].view("<i4").astype(np.int64)


def norm_params_sections(c: int, cwl: int) -> tuple[int, int, int]:
    """Words of the bias (int64), multiplier (int32) and shift (uint8) sections of ``LAYERNORM`` for C channels."""
    return words_for(8 * c, cwl), words_for(4 * c, cwl), words_for(c, cwl)


def norm_params_words(c: int, cwl: int) -> int:
    """Words of the per-channel parameter block a ``LAYERNORM`` of C channels reads."""
    return sum(norm_params_sections(c, cwl))


_NORM_PARAMS = ("<i8", "<i4", "u1")


def pack_norm_params(bias: np.ndarray, mult: np.ndarray, shift: np.ndarray, cwl: int) -> np.ndarray:
    """bias int64[C], then mult int32[C], then shift uint8[C], little-endian, each section word aligned."""
    return pack_sections((bias, mult, shift), _NORM_PARAMS, cwl)


def unpack_norm_params(words: np.ndarray, c: int) -> tuple[np.ndarray, ...]:
    """bias, mult, shift (each int64[C]) from a ``LAYERNORM`` parameter block."""
    return unpack_sections(words, c, _NORM_PARAMS)
