"""RESCALE, ADD, MUL, LUT, PRELU and INTERP: lane-wise int8 arithmetic over the words the patterns walk."""

from __future__ import annotations

import numpy as np

from pytpu.isa.ewp_arith import Add, Interp, Lut, Mul, PRelu, Rescale
from pytpu.isa.fields import LUT_ENTRIES
from pytpu.isa.layouts import lane_mults_words, unpack_lane_mults
from pytpu.isa.pattern import Pattern
from pytpu.sim.arith import clamp_to_int8, requantize, round_shift
from pytpu.sim.ops import semantics
from pytpu.sim.state import CACHE, DeviceState, Write


def _centred(state: DeviceState, pattern: Pattern, off: int, length: int, zero: int) -> np.ndarray:
    """``code - zero_point`` of the lanes processed, int64 ``(n, length)``."""
    return state.read_cache(pattern.addresses(), off, length).astype(np.int64) - zero


@semantics(Rescale)
def rescale(ins: Rescale, state: DeviceState) -> list[Write]:
    a = _centred(state, ins.a, ins.off, ins.len, ins.za)
    out = requantize(a, ins.mult, ins.shift, ins.zo, ins.lo, ins.hi)
    return [Write(CACHE, ins.dst.addresses(), ins.off, out)]


@semantics(Add)
def add(ins: Add, state: DeviceState) -> list[Write]:
    a = _centred(state, ins.a, ins.off, ins.len, ins.za)
    b = _centred(state, ins.b, ins.off, ins.len, ins.zb)
    out = clamp_to_int8(round_shift(a * ins.ma + b * ins.mb, ins.shift), ins.zo, ins.lo, ins.hi)
    return [Write(CACHE, ins.dst.addresses(), ins.off, out)]


@semantics(Mul)
def mul(ins: Mul, state: DeviceState) -> list[Write]:
    a = _centred(state, ins.a, ins.off, ins.len, ins.za)
    b = _centred(state, ins.b, ins.off, ins.len, ins.zb)
    out = requantize(a * b, ins.mult, ins.shift, ins.zo, ins.lo, ins.hi)
    return [Write(CACHE, ins.dst.addresses(), ins.off, out)]


@semantics(Lut)
def lut(ins: Lut, state: DeviceState) -> list[Write]:
    table = state.cache[ins.table : ins.table + state.lim.lut_words].reshape(-1)[:LUT_ENTRIES]
    a = state.read_cache(ins.a.addresses(), ins.off, ins.len).astype(np.int64)
    return [Write(CACHE, ins.dst.addresses(), ins.off, table[a + 128])]


@semantics(PRelu)
def prelu(ins: PRelu, state: DeviceState) -> list[Write]:
    cwl = state.lim.cwl
    block = state.cache[ins.neg : ins.neg + lane_mults_words(cwl)]
    negative = unpack_lane_mults(block, cwl)[ins.off : ins.off + ins.len]
    a = _centred(state, ins.a, ins.off, ins.len, ins.za)
    mult = np.where(a >= 0, np.int64(ins.pos), negative[None, :])
    out = clamp_to_int8(round_shift(a * mult, ins.shift), ins.zo, ins.lo, ins.hi)
    return [Write(CACHE, ins.dst.addresses(), ins.off, out)]


@semantics(Interp)
def interp(ins: Interp, state: DeviceState) -> list[Write]:
    words = ins.src.addresses()
    total = np.zeros((words.size, ins.len), dtype=np.int64)
    for offset, weight in zip(ins.offsets(), ins.weights(), strict=True):
        total += state.read_cache(words + offset, ins.off, ins.len).astype(np.int64) * weight
    out = clamp_to_int8(round_shift(total, ins.shift), ins.zo, ins.lo, ins.hi)
    return [Write(CACHE, ins.dst.addresses(), ins.off, out)]
