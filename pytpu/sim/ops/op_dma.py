"""LOAD and STORE: whole words between a DDR channel and the cache."""

from __future__ import annotations

from pytpu.isa.dma import Load, Store
from pytpu.sim.ops import semantics
from pytpu.sim.state import CACHE, DeviceState, Write


@semantics(Load)
def load(ins: Load, state: DeviceState) -> list[Write]:
    values = state.ddr[ins.ch].read(ins.ddr.index())
    return [Write(CACHE, ins.cache.index(), 0, values)]


@semantics(Store)
def store(ins: Store, state: DeviceState) -> list[Write]:
    values = state.read_cache(ins.cache.index())
    return [Write(ins.ch, ins.ddr.index(), 0, values)]
