"""MOVE and FILL."""

from __future__ import annotations

import numpy as np

from pytpu.isa.ewp_move import Fill, Move
from pytpu.sim.ops import semantics
from pytpu.sim.state import CACHE, DeviceState, Write


@semantics(Move)
def move(ins: Move, state: DeviceState) -> list[Write]:
    values = state.read_cache(ins.src.index(), ins.src_off, ins.len)
    return [Write(CACHE, ins.dst.index(), ins.dst_off, values)]


@semantics(Fill)
def fill(ins: Fill, state: DeviceState) -> list[Write]:
    values = np.full((ins.dst.count, ins.len), ins.value, dtype=np.int8)
    return [Write(CACHE, ins.dst.index(), ins.off, values)]
