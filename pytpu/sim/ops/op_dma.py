"""LOAD and STORE: whole words between a DDR channel and the cache."""

from __future__ import annotations

from pytpu.isa.dma import Load, Store
from pytpu.sim.ops import semantics
from pytpu.sim.state import CACHE, DeviceState, Write


@semantics(Load)
def load(ins: Load, state: DeviceState) -> list[Write]:
    values = state.ddr[ins.ch].read(ins.ddr.addresses())
    return [Write(CACHE, ins.cache.addresses(), 0, values)]


@semantics(Store)
def store(ins: Store, state: DeviceState) -> list[Write]:
    values = state.read_cache(ins.cache.addresses())
    return [Write(ins.ch, ins.ddr.addresses(), 0, values)]
