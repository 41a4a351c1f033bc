"""MAXPOOL, AVGPOOL and PACK over the window addressing mode."""

from __future__ import annotations

import numpy as np

from pytpu.isa.ewp_window import AvgPool, MaxPool, Pack, Windowed
from pytpu.sim.arith import requantize
from pytpu.sim.ops import semantics
from pytpu.sim.state import DeviceState, Write, cache_write


def _reduce(
    ins: Windowed, state: DeviceState, off: int, length: int, empty: int, combine: np.ufunc, dtype: type
) -> np.ndarray:
    """Combine the lanes ``off..off+length`` of each output's inside taps; padding taps count as ``empty``.

    Loops over the shorter of taps and outputs so that neither a global pool (one output, thousands of
    taps) nor a large feature map (thousands of outputs, nine taps) builds a huge temporary.
    """
    words, inside = ins.taps()
    n_out, n_taps = words.shape
    lanes = slice(off, off + length)
    if n_taps <= n_out:
        out: np.ndarray = np.full((n_out, length), empty, dtype=dtype)
        for t in range(n_taps):
            values: np.ndarray = state.cache[words[:, t], lanes].astype(dtype, copy=False)
            if not inside[:, t].all():
                values = np.where(inside[:, t, None], values, dtype(empty))
            combine(out, values, out=out)
        return out
    rows = []
    for o in range(n_out):
        values = state.cache[words[o][inside[o]], lanes].astype(dtype)
        rows.append(combine.reduce(values, axis=0, initial=empty))
    return np.stack(rows)


@semantics(MaxPool)
def max_pool(ins: MaxPool, state: DeviceState) -> list[Write]:
    # Padding is left out by counting it as -128, which never beats an inside tap (ties give the same code).
    return [cache_write(ins.dst, ins.off, _reduce(ins, state, ins.off, ins.len, -128, np.maximum, np.int8))]


@semantics(AvgPool)
def avg_pool(ins: AvgPool, state: DeviceState) -> list[Write]:
    # sum(a - za) = sum(a) - za * (inside taps): padding then contributes 0, as the contract says.
    sums = _reduce(ins, state, ins.off, ins.len, 0, np.add, np.int64)
    _, inside = ins.taps()
    v = sums - ins.za * inside.sum(axis=1, dtype=np.int64)[:, None]
    out = requantize(v, ins.mult, ins.shift, ins.zo, ins.lo, ins.hi)
    return [cache_write(ins.dst, ins.off, out)]


@semantics(Pack)
def pack(ins: Pack, state: DeviceState) -> list[Write]:
    words, inside = ins.taps()
    n_out, n_taps = words.shape
    out = np.empty((n_out, n_taps * ins.len), dtype=np.int8)
    lanes = slice(ins.src_off, ins.src_off + ins.len)
    for t in range(n_taps):
        values = state.cache[words[:, t], lanes]
        out[:, t * ins.len : (t + 1) * ins.len] = np.where(inside[:, t, None], values, np.int8(ins.fill))
    return [cache_write(ins.dst, ins.dst_off, out)]
