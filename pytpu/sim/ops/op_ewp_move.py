"""MOVE and FILL."""

from __future__ import annotations

import numpy as np

from pytpu.isa.ewp_move import Fill, Move
from pytpu.sim.ops import semantics
from pytpu.sim.state import DeviceState, Write, cache_write


@semantics(Move)
def move(ins: Move, state: DeviceState) -> list[Write]:
    values = state.read_pattern(ins.src, ins.src_off, ins.len)
    return [cache_write(ins.dst, ins.dst_off, values)]


@semantics(Fill)
def fill(ins: Fill, state: DeviceState) -> list[Write]:
    values = np.full((ins.dst.count, ins.len), ins.value, dtype=np.int8)
    return [cache_write(ins.dst, ins.off, values)]
