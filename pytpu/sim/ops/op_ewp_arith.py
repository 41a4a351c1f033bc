"""RESCALE, ADD, MUL, LUT, PRELU and INTERP: lane-wise int8 arithmetic over the words the patterns walk.

RESCALE, ADD and MUL are functions of one or two int8 codes, so each is evaluated once on every code (or
pair of codes) its fields allow, into a table, and the lanes are looked up: one gather instead of a
dozen int64 passes over the data.  The tables are the arithmetic itself, evaluated exhaustively, and are
kept per field values (a layer's instructions share them).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pytpu.isa.ewp_arith import Add, Interp, Lut, Mul, PRelu, Rescale
from pytpu.isa.fields import LUT_ENTRIES
from pytpu.isa.layouts import lane_mults_words, unpack_lane_mults
from pytpu.isa.pattern import Pattern
from pytpu.sim import kernels
from pytpu.sim.arith import clamp_to_int8, requantize, round_shift
from pytpu.sim.ops import semantics
from pytpu.sim.state import DeviceState, Write, cache_write


def _centred(state: DeviceState, pattern: Pattern, off: int, length: int, zero: int) -> np.ndarray:
    """``code - zero_point`` of the lanes processed, int64 ``(n, length)``."""
    return state.view_pattern(pattern, off, length).astype(np.int64) - zero


_CODES = np.arange(256, dtype=np.uint8).view(np.int8).astype(np.int64)
"""Every int8 code, indexed by its byte (as unsigned)."""
_PAIR_A, _PAIR_B = (c.reshape(-1) for c in np.meshgrid(_CODES, _CODES, indexing="ij"))
"""Every pair of int8 codes, indexed by ``a_byte * 256 + b_byte``."""


@lru_cache(maxsize=256)
def _rescale_table(za: int, mult: int, shift: int, zo: int, lo: int, hi: int) -> np.ndarray:
    return requantize(_CODES - za, mult, shift, zo, lo, hi)


@lru_cache(maxsize=256)
def _add_table(za: int, zb: int, ma: int, mb: int, shift: int, zo: int, lo: int, hi: int) -> np.ndarray:
    return clamp_to_int8(round_shift((_PAIR_A - za) * ma + (_PAIR_B - zb) * mb, shift), zo, lo, hi)


@lru_cache(maxsize=256)
def _mul_table(za: int, zb: int, mult: int, shift: int, zo: int, lo: int, hi: int) -> np.ndarray:
    return requantize((_PAIR_A - za) * (_PAIR_B - zb), mult, shift, zo, lo, hi)


def _bytes(state: DeviceState, pattern: Pattern, off: int, length: int) -> np.ndarray:
    """The lanes processed as unsigned bytes (table indexes; a view of the cache where it can be)."""
    return state.view_pattern(pattern, off, length).view(np.uint8)


def _pairs(state: DeviceState, ins: Add | Mul, table: np.ndarray) -> np.ndarray:
    """The table's entry for every pair of lanes processed (``a_byte * 256 + b_byte``)."""
    a = state.view_pattern(ins.a, ins.off, ins.len)
    b = state.view_pattern(ins.b, ins.off, ins.len)
    out = np.empty(a.shape, dtype=np.int8)
    kernels.look_up_pairs(a, b, table, out)
    return out


@semantics(Rescale)
def rescale(ins: Rescale, state: DeviceState) -> list[Write]:
    table = _rescale_table(ins.za, ins.mult, ins.shift, ins.zo, ins.lo, ins.hi)
    return [cache_write(ins.dst, ins.off, np.take(table, _bytes(state, ins.a, ins.off, ins.len)))]


@semantics(Add)
def add(ins: Add, state: DeviceState) -> list[Write]:
    table = _add_table(ins.za, ins.zb, ins.ma, ins.mb, ins.shift, ins.zo, ins.lo, ins.hi)
    return [cache_write(ins.dst, ins.off, _pairs(state, ins, table))]


@semantics(Mul)
def mul(ins: Mul, state: DeviceState) -> list[Write]:
    table = _mul_table(ins.za, ins.zb, ins.mult, ins.shift, ins.zo, ins.lo, ins.hi)
    return [cache_write(ins.dst, ins.off, _pairs(state, ins, table))]


@semantics(Lut)
def lut(ins: Lut, state: DeviceState) -> list[Write]:
    table = state.cache[ins.table : ins.table + state.lim.lut_words].reshape(-1)[:LUT_ENTRIES]
    a = state.view_pattern(ins.a, ins.off, ins.len).astype(np.int64)
    return [cache_write(ins.dst, ins.off, table[a + 128])]


@semantics(PRelu)
def prelu(ins: PRelu, state: DeviceState) -> list[Write]:
    cwl = state.lim.cwl
    block = state.cache[ins.neg : ins.neg + lane_mults_words(cwl)]
    negative = unpack_lane_mults(block, cwl)[ins.off : ins.off + ins.len]
    a = _centred(state, ins.a, ins.off, ins.len, ins.za)
    mult = np.where(a >= 0, np.int64(ins.pos), negative[None, :])
    out = clamp_to_int8(round_shift(a * mult, ins.shift), ins.zo, ins.lo, ins.hi)
    return [cache_write(ins.dst, ins.off, out)]


@semantics(Interp)
def interp(ins: Interp, state: DeviceState) -> list[Write]:
    words = ins.src.addresses()
    total = np.zeros((words.size, ins.len), dtype=np.int64)
    for offset, weight in zip(ins.offsets(), ins.weights(), strict=True):
        total += state.view_cache(words + offset, ins.off, ins.len).astype(np.int64) * weight
    out = clamp_to_int8(round_shift(total, ins.shift), ins.zo, ins.lo, ins.hi)
    return [cache_write(ins.dst, ins.off, out)]
