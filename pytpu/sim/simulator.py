"""The simulated device as a whole: memories, the static checker and the engine."""

from __future__ import annotations

import numpy as np

from pytpu.errors import AlignmentError, CacheCapacityError, DdrCapacityError
from pytpu.isa.program import Program
from pytpu.params import ModelParameters, TPU_128x128_PARAMS
from pytpu.sim.blas import simulation_blas
from pytpu.sim.checker import check_program
from pytpu.sim.engine import execute
from pytpu.sim.state import DeviceState
from pytpu.sim.timeline import Timeline


class Simulator:
    """A simulated device (the manual's TLM) for one platform.

    Host-side helpers put data into the cache or DDR before a run and read it back after; ``run`` executes
    a program on whatever the memories hold and returns its timeline.
    """

    def __init__(self, hw: ModelParameters = TPU_128x128_PARAMS):
        self.hw = hw
        self.state = DeviceState(hw)

    @property
    def cwl(self) -> int:
        return self.state.lim.cwl

    def run(self, program: Program, *, disable_static_checker: bool = False, hazards: bool = True) -> Timeline:
        """Check (unless disabled) and execute ``program``."""
        if not disable_static_checker:
            check_program(program, self.hw, hazards=hazards)
        with simulation_blas():
            return execute(program, self.state, checked=not disable_static_checker)

    def time(self, program: Program) -> Timeline:
        """When each instruction of ``program`` would run, without running it: no data moves and the memories
        are left alone, so it takes a fraction of ``run``'s time (a compiler comparing schedules uses it).
        The program is not checked."""
        return execute(program, self.state, checked=True, data=False)

    def write_cache(self, word: int, data: np.ndarray) -> None:
        """Put bytes (padded with zeros to whole words) into the cache from word ``word``."""
        raw = np.ascontiguousarray(data).view(np.int8).reshape(-1)
        words = -(-raw.size // self.cwl)
        if word < 0 or word + words > self.state.lim.cache_words:
            raise CacheCapacityError(f"{words} words at cache word {word} leave the cache")
        flat = self.state.cache[word : word + words].reshape(-1)
        flat[: raw.size] = raw
        flat[raw.size :] = 0

    def read_cache(self, word: int, count: int) -> np.ndarray:
        """``count`` words from cache word ``word``, shape ``(count, cwl)`` int8 (a copy)."""
        return self.state.cache[word : word + count].copy()

    def write_ddr(self, channel: int, address: int, data: np.ndarray | bytes, *, share: bool = False) -> None:
        """Put bytes into DDR channel ``channel`` at byte ``address`` (word aligned).

        ``share``: read ``data`` in place rather than copy it, a page copied only if the program writes it;
        the caller must not change ``data`` meanwhile (a program's constants, run after run).
        """
        raw = np.frombuffer(data, dtype=np.int8) if isinstance(data, bytes) else data
        self._check_ddr(channel, address, np.asarray(raw).nbytes)
        memory = self.state.ddr[channel]
        (memory.share_bytes if share else memory.write_bytes)(address, np.asarray(raw))

    def read_ddr(self, channel: int, address: int, nbytes: int) -> np.ndarray:
        """``nbytes`` bytes (int8) of DDR channel ``channel`` from byte ``address`` (word aligned)."""
        self._check_ddr(channel, address, nbytes)
        return self.state.ddr[channel].read_bytes(address, nbytes)

    def _check_ddr(self, channel: int, address: int, nbytes: int) -> None:
        ddr = self.hw.ddr
        if not 0 <= channel < ddr.channels:
            raise DdrCapacityError(f"DDR channel {channel} does not exist ({ddr.channels} channels)")
        if address % self.cwl:
            raise AlignmentError(f"DDR address {address:#x} is not aligned to {self.cwl}-byte words")
        if address < 0 or address + nbytes > ddr.channel_size:
            raise DdrCapacityError(f"{nbytes} bytes at {address:#x} leave DDR{channel} ({ddr.channel_size} bytes)")
