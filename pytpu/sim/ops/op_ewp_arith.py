"""RESCALE, ADD, MUL and LUT: lane-wise int8 arithmetic over the words the patterns walk."""

from __future__ import annotations

import numpy as np

from pytpu.isa.ewp_arith import Add, Lut, Mul, Rescale
from pytpu.isa.fields import LUT_ENTRIES
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
