"""LOADW, GEMM and DRAIN."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pytpu.errors import ProgramError
from pytpu.isa.layouts import output_stage_words, unpack_output_stage, weight_tile_at
from pytpu.isa.me import Drain, Gemm, LoadWeights
from pytpu.sim.arith import OutputStage
from pytpu.sim.fusion import FormedSum
from pytpu.sim.ops import semantics
from pytpu.sim.state import CACHE, DeviceState, WeightTile, Write


@semantics(LoadWeights)
def load_weights(ins: LoadWeights, state: DeviceState) -> list[Write]:
    codes = weight_tile_at(state.cache, ins.addr, ins.k, ins.m).copy()  # a view of the cache until copied
    state.weights[ins.buf] = WeightTile(ins.k, ins.m, codes, _diagonal(codes))
    return []


def _diagonal(codes: np.ndarray) -> np.ndarray | None:
    """The tile's diagonal as float32 if every other code is zero (a depthwise tile), else None."""
    k, m = codes.shape
    if (m > 1 and codes[0, 1]) or (k > 1 and codes[1, 0]):  # most tiles fail here, at the cost of two codes
        return None
    if m > 1 and codes[0, 1:].any():  # or here, at the cost of one row
        return None
    diagonal = np.diagonal(codes)
    if np.count_nonzero(codes) != np.count_nonzero(diagonal):
        return None
    return diagonal.astype(np.float32)


@semantics(Gemm)
def gemm(ins: Gemm, state: DeviceState) -> list[Write]:
    tile = state.weights[ins.buf]
    if tile is None or (tile.k, tile.m) != (ins.k, ins.m):
        held = "nothing" if tile is None else f"a {tile.k}x{tile.m} tile"
        raise ProgramError(f"multiplies by a {ins.k}x{ins.m} tile but weight buffer {ins.buf} holds {held}")
    x = state.read_cache(ins.x.index(), ins.off, ins.k)
    state.accumulators.gemm(ins.acc, x, tile.codes, bool(ins.accumulate), tile.diagonal)
    return []


@semantics(Drain)
def drain(ins: Drain, state: DeviceState) -> list[Write]:
    cwl = state.lim.cwl
    block = state.cache[ins.params : ins.params + output_stage_words(ins.m, cwl)]
    stage = _output_stage(block.tobytes(), ins.m, cwl)
    acc = state.accumulators.read(ins.acc, ins.dst.count, ins.m)
    return [Write(CACHE, ins.dst.index(), ins.off, stage.apply(acc, ins.zo, ins.lo, ins.hi))]


@lru_cache(maxsize=1024)
def _output_stage(block: bytes, m: int, cwl: int) -> OutputStage:
    """The output stage a parameter block describes, kept by its bytes (a layer's DRAINs share one)."""
    words = np.frombuffer(block, dtype=np.int8).reshape(-1, cwl)
    return OutputStage(*unpack_output_stage(words, m))


def drain_formed(formed: FormedSum, state: DeviceState) -> list[Write]:
    """A DRAIN that first forms its sum from the cache, its GEMMs and LOADWs skipped (see pytpu.sim.fusion)."""
    cache = state.cache
    xs, ws, diagonals = [], [], []
    for term in formed.terms:
        if term.shape:  # a strided view of the rows (the plan checked the pattern against the cache)
            xs.append(np.ndarray(term.shape, np.int8, cache, term.start, term.strides))
        else:
            xs.append(state.view_cache(term.x.index(), term.off, term.k))
        codes = weight_tile_at(cache, term.tile, term.k, term.m)
        ws.append(codes)
        diagonals.append(_diagonal(codes))
    state.accumulators.form(formed.start, formed.n, formed.m, xs, ws, diagonals)
    return drain(formed.drain, state)
