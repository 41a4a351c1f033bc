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


def unpack_weight_tile(words: np.ndarray, k: int, m: int) -> np.ndarray:
    return np.ascontiguousarray(words).reshape(-1)[: k * m].reshape(k, m)


def output_stage_sections(m: int, cwl: int) -> tuple[int, int, int]:
    """Words of the bias (int32), multiplier (int32) and shift (uint8) sections for M channels."""
    wide = words_for(4 * m, cwl)
    return wide, wide, words_for(m, cwl)


def output_stage_words(m: int, cwl: int) -> int:
    """Words of the parameter block a DRAIN of M channels reads."""
    return sum(output_stage_sections(m, cwl))


def pack_output_stage(bias: np.ndarray, mult: np.ndarray, shift: np.ndarray, cwl: int) -> np.ndarray:
    """The parameter block: bias int32[M], then mult int32[M], then shift uint8[M], each section word aligned."""
    sections = (
        np.asarray(bias, dtype="<i4"),
        np.asarray(mult, dtype="<i4"),
        np.asarray(shift, dtype=np.uint8),
    )
    return np.concatenate([to_words(s, cwl) for s in sections])


def unpack_output_stage(words: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """bias, mult, shift (each int64[M]) from a parameter block."""
    cwl = words.shape[1]
    nb, nm, _ = output_stage_sections(m, cwl)
    flat = np.ascontiguousarray(words).reshape(-1)
    bias = flat[: nb * cwl].view("<i4")[:m]
    mult = flat[nb * cwl : (nb + nm) * cwl].view("<i4")[:m]
    shift = flat[(nb + nm) * cwl :].view(np.uint8)[:m]
    return bias.astype(np.int64), mult.astype(np.int64), shift.astype(np.int64)


def pack_lut(table: np.ndarray, cwl: int) -> np.ndarray:
    """A 256-entry int8 table as words: byte ``a + 128`` holds the result for code ``a``."""
    table = np.asarray(table, dtype=np.int8).reshape(-1)
    if table.size != LUT_ENTRIES:
        raise ValueError(f"a lookup table has {LUT_ENTRIES} entries, not {table.size}")
    return to_words(table, cwl)


EXP_TABLE_ENTRIES = 256
"""Entries of a softmax exponential table (int32, entry ``d + 255`` for ``d = a - max`` in ``[-255, 0]``)."""


def exp_table_words(cwl: int) -> int:
    """Words of a softmax exponential table."""
    return words_for(4 * EXP_TABLE_ENTRIES, cwl)


def pack_exp_table(table: np.ndarray, cwl: int) -> np.ndarray:
    """A softmax table of 256 int32 entries, little-endian, as words."""
    table = np.asarray(table, dtype="<i4").reshape(-1)
    if table.size != EXP_TABLE_ENTRIES:
        raise ValueError(f"an exponential table has {EXP_TABLE_ENTRIES} entries, not {table.size}")
    return to_words(table, cwl)


def unpack_exp_table(words: np.ndarray) -> np.ndarray:
    """The int32 entries (as int64) of a packed exponential table."""
    return np.ascontiguousarray(words).reshape(-1)[: 4 * EXP_TABLE_ENTRIES].view("<i4").astype(np.int64)
