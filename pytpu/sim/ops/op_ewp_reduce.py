"""SOFTMAX and LAYERNORM: the integer softmax and layer normalisation of docs/integer_arithmetic.md over groups of
words."""

from __future__ import annotations

import numpy as np

from pytpu.isa.ewp_reduce import LayerNorm, Softmax
from pytpu.isa.layouts import (
    norm_params_words,
    table32_words,
    unpack_norm_params,
    unpack_table32,
)
from pytpu.isa.pattern import Pattern
from pytpu.sim.arith import round_shift
from pytpu.sim.ops import semantics
from pytpu.sim.state import CACHE, DeviceState, Write


@semantics(Softmax)
def softmax(ins: Softmax, state: DeviceState) -> list[Write]:
    cwl = state.lim.cwl
    table = unpack_table32(state.cache[ins.table : ins.table + table32_words(cwl)])
    src = ins.src.addresses()
    groups = src.size // ins.words
    codes = state.cache[src].astype(np.int64).reshape(groups, ins.words * cwl)
    valid = (ins.words - 1) * cwl + ins.last
    a = codes[:, :valid]
    d = a - a.max(axis=1, keepdims=True)
    e = table[d + 255]
    denominator = e.sum(axis=1, keepdims=True) << ins.shift
    quotient = (2 * e * ins.mult + denominator) // (2 * denominator)
    out = np.clip(quotient + ins.zo, -128, 127).astype(np.int8)
    return _group_writes(ins.dst, ins.words, ins.last, out, cwl)


def _group_writes(dst: Pattern, words: int, last: int, out: np.ndarray, cwl: int) -> list[Write]:
    """Writes of ``out`` (int8 ``[groups, codes]``) into the groups ``dst`` walks, keeping bytes past the codes."""
    groups, valid = out.shape
    flat = np.zeros((groups, words * cwl), dtype=np.int8)
    flat[:, :valid] = out
    full = flat.reshape(groups, words, cwl)
    addresses = dst.addresses().reshape(groups, words)
    writes = []
    if words > 1:
        writes.append(Write(CACHE, addresses[:, :-1].reshape(-1), 0, full[:, :-1].reshape(-1, cwl)))
    writes.append(Write(CACHE, addresses[:, -1], 0, full[:, -1, :last]))
    return writes


# u >= 2^(16 + 2i) for i in [0, 20] adds one to j, u < 2^(16 - 2i) for i in [1, 7] takes one away.
_UP = np.array([1 << (16 + 2 * i) for i in range(21)], dtype=np.int64)
_DOWN = np.array([1 << (16 - 2 * i) for i in range(1, 8)], dtype=np.int64)
_RSQRT_BITS = 23


@semantics(LayerNorm)
def layer_norm(ins: LayerNorm, state: DeviceState) -> list[Write]:
    cwl = state.lim.cwl
    channels = ins.channels(state.lim)
    table = unpack_table32(state.cache[ins.table : ins.table + table32_words(cwl)])
    block = state.cache[ins.params : ins.params + norm_params_words(channels, cwl)]
    bias, mult, shift = unpack_norm_params(block, channels)
    src = ins.src.addresses()
    groups = src.size // ins.words
    q = state.cache[src].astype(np.int64).reshape(groups, ins.words * cwl)[:, :channels]
    s1 = q.sum(axis=1, keepdims=True)
    s2 = (q * q).sum(axis=1, keepdims=True)
    u = channels * s2 - s1 * s1 + ins.eps
    j = (u >= _UP).sum(axis=1, keepdims=True) - (u < _DOWN).sum(axis=1, keepdims=True)
    m = np.where(j >= 0, u >> (2 * np.maximum(j, 0)), u << (2 * np.maximum(-j, 0)))
    r0 = table[m >> 8]
    r1 = round_shift(r0 * ((3 << _RSQRT_BITS) - round_shift(m * r0 * r0, _RSQRT_BITS)), _RSQRT_BITS + 1)
    n = round_shift((channels * q - s1) * r1, 11 + j)
    out = np.clip(round_shift(n * mult + bias, shift) + ins.zo, -128, 127).astype(np.int8)
    return _group_writes(ins.dst, ins.words, ins.last, out, cwl)
