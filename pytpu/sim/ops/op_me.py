"""LOADW, GEMM and DRAIN."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pytpu.errors import ProgramError
from pytpu.isa.layouts import output_stage_words, unpack_output_stage, weight_tile_at
from pytpu.isa.me import Drain, Gemm, LoadWeights
from pytpu.sim.accumulators import Tiles, summed
from pytpu.sim.arith import OutputStage
from pytpu.sim.fusion import FormedSum, KeptLoad, SharedRows, Term
from pytpu.sim.ops import semantics
from pytpu.sim.state import DeviceState, WeightTile, Write, cache_write


@semantics(LoadWeights)
def load_weights(ins: LoadWeights, state: DeviceState) -> list[Write]:
    codes = weight_tile_at(state.cache, ins.addr, ins.k, ins.m).copy()  # a view of the cache until copied
    state.weights[ins.buf] = WeightTile(ins.k, ins.m, codes, _diagonal(codes))
    return []


def load_kept(kept: KeptLoad, state: DeviceState) -> list[Write]:
    """A LOADW whose copy formed sums read later (see pytpu.sim.fusion.KeptLoad): kept for them too."""
    load_weights(kept.ins, state)
    tile = state.weights[kept.ins.buf]
    assert tile is not None
    state.kept[kept.step] = (tile.codes, kept.uses)
    return []


def _tile(term: Term, state: DeviceState) -> np.ndarray:
    """A term's tile: from the cache, or the copy its LOADW kept (released after its last use)."""
    if term.kept < 0:
        return weight_tile_at(state.cache, term.tile, term.k, term.m)
    codes, uses = state.kept.pop(term.kept)
    if uses > 1:
        state.kept[term.kept] = (codes, uses - 1)
    return codes


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
    x = state.read_pattern(ins.x, ins.off, ins.k)
    state.accumulators.gemm(ins.acc, x, tile.codes, bool(ins.accumulate), tile.diagonal)
    return []


@semantics(Drain)
def drain(ins: Drain, state: DeviceState) -> list[Write]:
    n = ins.dst.count
    acc = state.accumulators.settled(ins.acc, n)
    codes = _stage_of(ins, state).apply_at(acc, ins.acc, n, ins.m, ins.zo, ins.lo, ins.hi)
    return [cache_write(ins.dst, ins.off, codes)]


def _stage_of(ins: Drain, state: DeviceState) -> OutputStage:
    cwl = state.lim.cwl
    block = state.cache[ins.params : ins.params + output_stage_words(ins.m, cwl)]
    return _output_stage(block.tobytes(), ins.m, cwl)


@lru_cache(maxsize=1024)
def _output_stage(block: bytes, m: int, cwl: int) -> OutputStage:
    """The output stage a parameter block describes, kept by its bytes (a layer's DRAINs share one)."""
    words = np.frombuffer(block, dtype=np.int8).reshape(-1, cwl)
    return OutputStage(*unpack_output_stage(words, m))


def drain_formed(formed: FormedSum, state: DeviceState) -> list[Write]:
    """A DRAIN that first forms its sum from the cache, its GEMMs and LOADWs skipped (see pytpu.sim.fusion), or
    takes the product an earlier DRAIN formed for it."""
    values = state.ahead.pop(formed.step) if formed.ahead else _summed(formed, state)
    state.accumulators.set(formed.start, formed.n, formed.m, values)
    return drain(formed.drain, state)


def _summed(formed: FormedSum, state: DeviceState) -> np.ndarray:
    ws = [_tile(term, state) for term in formed.terms]
    return summed(formed.n, formed.m, _rows_of(formed, state), ws, [_diagonal(w) for w in ws])


def form_early(formed: FormedSum, state: DeviceState) -> list[Write]:
    """The last GEMM of a sum formed before its DRAIN (see pytpu.sim.fusion.FormedSum): the whole sum at once."""
    state.accumulators.set(formed.start, formed.n, formed.m, _summed(formed, state))
    return []


def drain_shared(shared: SharedRows, state: DeviceState) -> list[Write]:
    """The first DRAIN of a :class:`~pytpu.sim.fusion.SharedRows`: every member's product at once (each later
    member's waits in ``state.ahead``), then its own drain."""
    first = shared.members[0]
    ws: list[Tiles] = [
        tuple(_tile(member.terms[i], state) for member in shared.members) for i in range(len(first.terms))
    ]
    total = sum(member.m for member in shared.members)
    values = summed(first.n, total, _rows_of(first, state), ws, [None] * len(ws))
    column = first.m
    for member in shared.members[1:]:
        state.ahead[member.step] = values[:, column : column + member.m]
        column += member.m
    state.accumulators.set(first.start, first.n, first.m, values[:, : first.m])
    return drain(first.drain, state)


def _rows_of(formed: FormedSum, state: DeviceState) -> list[np.ndarray]:
    """The rows of each term, as views of the cache (the plan checked them against the cache)."""
    return [state.strided_view(term.rows, term.off, term.k) for term in formed.terms]
