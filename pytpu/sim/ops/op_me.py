"""LOADW, GEMM and DRAIN."""

from __future__ import annotations

import numpy as np

from pytpu.errors import ProgramError
from pytpu.isa.layouts import output_stage_words, unpack_output_stage, unpack_weight_tile, weight_tile_words
from pytpu.isa.me import Drain, Gemm, LoadWeights
from pytpu.sim.accumulators import EXACT_FLOAT32_TERMS
from pytpu.sim.arith import requantize_sum
from pytpu.sim.ops import semantics
from pytpu.sim.state import CACHE, DeviceState, WeightTile, Write


@semantics(LoadWeights)
def load_weights(ins: LoadWeights, state: DeviceState) -> list[Write]:
    words = state.cache[ins.addr : ins.addr + weight_tile_words(ins.k, ins.m, state.lim.cwl)]
    dtype = np.float32 if ins.k <= EXACT_FLOAT32_TERMS else np.float64
    state.weights[ins.buf] = WeightTile(ins.k, ins.m, unpack_weight_tile(words, ins.k, ins.m).astype(dtype))
    return []


@semantics(Gemm)
def gemm(ins: Gemm, state: DeviceState) -> list[Write]:
    tile = state.weights[ins.buf]
    if tile is None or (tile.k, tile.m) != (ins.k, ins.m):
        held = "nothing" if tile is None else f"a {tile.k}x{tile.m} tile"
        raise ProgramError(f"multiplies by a {ins.k}x{ins.m} tile but weight buffer {ins.buf} holds {held}")
    x = state.read_cache(ins.x.index(), ins.off, ins.k)
    state.accumulators.gemm(ins.acc, x, tile.values, bool(ins.accumulate))
    return []


@semantics(Drain)
def drain(ins: Drain, state: DeviceState) -> list[Write]:
    cwl = state.lim.cwl
    block = state.cache[ins.params : ins.params + output_stage_words(ins.m, cwl)]
    bias, mult, shift = unpack_output_stage(block, ins.m)
    acc = state.accumulators.read(ins.acc, ins.dst.count, ins.m)
    out = requantize_sum(acc, bias, mult, shift, ins.zo, ins.lo, ins.hi)
    return [Write(CACHE, ins.dst.index(), ins.off, out)]
