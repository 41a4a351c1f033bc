"""LOAD and STORE: whole words between a DDR channel and the cache."""

from __future__ import annotations

from pytpu.isa.dma import Load, Store
from pytpu.sim.ops import semantics
from pytpu.sim.state import DeviceState, Write, cache_write


@semantics(Load)
def load(ins: Load, state: DeviceState) -> list[Write]:
    values = state.ddr[ins.ch].read(ins.ddr.index())
    return [cache_write(ins.cache, 0, values)]


@semantics(Store)
def store(ins: Store, state: DeviceState) -> list[Write]:
    values = state.read_pattern(ins.cache)
    return [Write(ins.ch, ins.ddr.index(), 0, values)]
