"""LOADW, GEMM and DRAIN."""

from __future__ import annotations

import numpy as np

from pytpu.errors import ProgramError
from pytpu.isa.layouts import output_stage_words, unpack_output_stage, unpack_weight_tile, weight_tile_words
from pytpu.isa.me import Drain, Gemm, LoadWeights
from pytpu.sim.arith import requantize
from pytpu.sim.ops import semantics
from pytpu.sim.state import CACHE, DeviceState, WeightTile, Write

# A float32 sum of K products of int8 codes is exact while K * 128 * 128 <= 2^24 (every partial sum is an
# integer float32 represents exactly, whatever order BLAS adds in); beyond that float64 is exact.
_FLOAT32_EXACT_K = (1 << 24) // (128 * 128)


@semantics(LoadWeights)
def load_weights(ins: LoadWeights, state: DeviceState) -> list[Write]:
    words = state.cache[ins.addr : ins.addr + weight_tile_words(ins.k, ins.m, state.lim.cwl)]
    dtype = np.float32 if ins.k <= _FLOAT32_EXACT_K else np.float64
    state.weights[ins.buf] = WeightTile(ins.k, ins.m, unpack_weight_tile(words, ins.k, ins.m).astype(dtype))
    return []


@semantics(Gemm)
def gemm(ins: Gemm, state: DeviceState) -> list[Write]:
    tile = state.weights[ins.buf]
    if tile is None or (tile.k, tile.m) != (ins.k, ins.m):
        held = "nothing" if tile is None else f"a {tile.k}x{tile.m} tile"
        raise ProgramError(f"multiplies by a {ins.k}x{ins.m} tile but weight buffer {ins.buf} holds {held}")
    x = state.read_cache(ins.x.addresses(), ins.off, ins.k).astype(tile.values.dtype)
    product = (x @ tile.values).astype(np.int32)
    rows = slice(ins.acc, ins.acc + ins.x.count)
    if ins.accumulate:
        # int32 accumulators wrap like the hardware's; the quantizer keeps sums in range.
        state.acc[rows, : ins.m] += product
    else:
        state.acc[rows, : ins.m] = product
    return []


@semantics(Drain)
def drain(ins: Drain, state: DeviceState) -> list[Write]:
    cwl = state.lim.cwl
    block = state.cache[ins.params : ins.params + output_stage_words(ins.m, cwl)]
    bias, mult, shift = unpack_output_stage(block, ins.m)
    v = state.acc[ins.acc : ins.acc + ins.dst.count, : ins.m].astype(np.int64) + bias
    out = requantize(v, mult, shift, ins.zo, ins.lo, ins.hi)
    return [Write(CACHE, ins.dst.addresses(), ins.off, out)]
