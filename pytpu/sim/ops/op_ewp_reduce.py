"""SOFTMAX: the integer softmax of docs/integer_arithmetic.md over groups of words."""

from __future__ import annotations

import numpy as np

from pytpu.isa.ewp_reduce import Softmax
from pytpu.isa.layouts import exp_table_words, unpack_exp_table
from pytpu.sim.ops import semantics
from pytpu.sim.state import CACHE, DeviceState, Write


@semantics(Softmax)
def softmax(ins: Softmax, state: DeviceState) -> list[Write]:
    cwl = state.lim.cwl
    table = unpack_exp_table(state.cache[ins.table : ins.table + exp_table_words(cwl)])
    src, dst = ins.src.addresses(), ins.dst.addresses()
    groups = src.size // ins.words
    codes = state.cache[src].astype(np.int64).reshape(groups, ins.words * cwl)
    valid = (ins.words - 1) * cwl + ins.last
    a = codes[:, :valid]
    d = a - a.max(axis=1, keepdims=True)
    e = table[d + 255]
    denominator = e.sum(axis=1, keepdims=True) << ins.shift
    quotient = (2 * e * ins.mult + denominator) // (2 * denominator)
    out = np.clip(quotient + ins.zo, -128, 127).astype(np.int8)
    flat = np.zeros((groups, ins.words * cwl), dtype=np.int8)
    flat[:, :valid] = out
    full = flat.reshape(groups, ins.words, cwl)
    dst = dst.reshape(groups, ins.words)
    writes = []
    if ins.words > 1:
        writes.append(Write(CACHE, dst[:, :-1].reshape(-1), 0, full[:, :-1].reshape(-1, cwl)))
    writes.append(Write(CACHE, dst[:, -1], 0, full[:, -1, : ins.last]))
    return writes
