"""The timing model: reference_hardware.md's rules, applied to each instruction as the engine executes it.

This is the only code that computes device time.  Every unit keeps a timeline; an instruction starts when
its unit (queue) is free and its dependencies are done, plus the matrix engine's interlocks:

* DMA (DTL0, DTL1): a transfer of B bytes occupies its lane and its DDR channel for ``ceil(B / rate)``
  cycles (rate = the lower of lane and channel bandwidth); its data are usable ``max(latency, occupancy)``
  cycles after it starts (500 cycles on the reference machine, never before the lane has moved them).
* ME: instructions issue in stream order (none starts before the previous one started) onto three queues:
  the weight loader (LOADW: ``ceil(K*M/cwl)`` cycles; waits until the GEMMs reading that buffer are done),
  the array (GEMM: ``N`` cycles, plus ``K+M`` fill/drain when it starts a burst; waits for its buffer's
  LOADW and for DRAINs still reading its accumulator rows) and the output stage (DRAIN: one row per cycle;
  waits for every earlier GEMM).  A GEMM continues a burst only if it was ready when the array became
  free; a burst pays the largest ``K+M`` of its GEMMs once.
* EWP: ``overhead + ceil(W / words_per_cycle)`` cycles, ``W`` the larger of words read and words written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from pytpu.isa.base import Instruction, queue_of
from pytpu.isa.dma import Load, Store
from pytpu.isa.ewp_arith import Add, Interp, Lut, Mul, PRelu, Rescale
from pytpu.isa.ewp_move import Fill, Move
from pytpu.isa.ewp_reduce import LayerNorm, Softmax
from pytpu.isa.ewp_window import AvgPool, MaxPool, Pack, Windowed
from pytpu.isa.fields import Limits, limits_of
from pytpu.isa.layouts import (
    lane_mults_words,
    norm_params_words,
    table32_words,
    weight_tile_words,
)
from pytpu.isa.me import Drain, Gemm, LoadWeights
from pytpu.isa.units import Unit
from pytpu.params import ModelParameters

ME_QUEUES = ("ME.load", "ME.array", "ME.drain")
QUEUES = (*ME_QUEUES, "EWP", "DTL0", "DTL1")
"""Timing queues of the instruction streams, in report order."""


@dataclass(slots=True)
class Slot:
    """When an instruction runs: its queue is busy ``start..end``; it is complete (results usable) at ``done``."""

    start: int
    end: int
    done: int
    new_burst: bool = False
    """A GEMM that starts a burst of the array (it pays the fill/drain)."""


def _window_words(ins: Windowed, lim: Limits) -> int:
    return max(ins.inside_taps(), ins.dst.count)


EWP_WORDS: dict[type[Instruction], Callable[[Any, Limits], int]] = {
    Rescale: lambda ins, lim: ins.dst.count,
    Add: lambda ins, lim: 2 * ins.dst.count,
    Mul: lambda ins, lim: 2 * ins.dst.count,
    Lut: lambda ins, lim: ins.dst.count + lim.lut_words,
    MaxPool: _window_words,
    AvgPool: _window_words,
    Pack: _window_words,
    Move: lambda ins, lim: ins.dst.count,
    Fill: lambda ins, lim: ins.dst.count,
    Softmax: lambda ins, lim: 2 * ins.src.count + table32_words(lim.cwl),
    PRelu: lambda ins, lim: ins.dst.count + lane_mults_words(lim.cwl),
    Interp: lambda ins, lim: ins.taps * ins.dst.count,
    LayerNorm: lambda ins, lim: (
        2 * ins.src.count + table32_words(lim.cwl) + norm_params_words(ins.channels(lim), lim.cwl)
    ),
}
"""W of each EWP instruction: the larger of the words it reads (every operand, every inside tap, the
table) and the words it writes.  SOFTMAX and LAYERNORM read their source twice (the group's statistics,
then the results); INTERP reads one word per tap and output word."""


class TimingModel:
    """Resource timelines of one run; ``plan`` is pure, ``commit`` books the slot."""

    def __init__(self, hw: ModelParameters):
        self.hw = hw
        self.lim = limits_of(hw)
        self.free: dict[str, int] = {q: 0 for q in QUEUES} | {f"DDR{c}": 0 for c in range(hw.ddr.channels)}
        self._me_issue = 0
        buffers = hw.tpu_parameters.weight_buffers
        self._loaded = [0] * buffers
        self._released = [0] * buffers
        self._drained = np.zeros(hw.tpu_parameters.accumulator_rows, dtype=np.int64)
        self._array_used = False
        self._burst_fill = 0
        self._dma_rate = min(hw.dma.bytes_per_cycle, hw.ddr.bytes_per_cycle)

    def plan(self, unit: Unit, ins: Instruction, ready: int) -> Slot:
        """The slot ``ins`` gets if it runs next; ``ready`` is when its dependencies are done."""
        if unit is Unit.ME:
            return self._plan_me(ins, max(ready, self._me_issue))
        if unit is Unit.EWP:
            return self._plan_ewp(ins, ready)
        return self._plan_dma(unit, ins, ready)

    def commit(self, unit: Unit, ins: Instruction, slot: Slot) -> None:
        """Book the queues ``ins`` occupies for ``slot``."""
        self.free[queue_of(unit, ins)] = slot.end
        if isinstance(ins, Load | Store):
            self.free[f"DDR{ins.ch}"] = slot.end
        if unit is Unit.ME:
            self._commit_me(ins, slot)

    # DMA

    def dma_cycles(self, ins: Load | Store) -> int:
        """Cycles a transfer occupies its lane and its channel."""
        return -(-ins.cache.count * self.lim.cwl // self._dma_rate)

    def _plan_dma(self, unit: Unit, ins: Instruction, ready: int) -> Slot:
        assert isinstance(ins, Load | Store)
        start = max(ready, self.free[unit.name], self.free[f"DDR{ins.ch}"])
        busy = self.dma_cycles(ins)
        return Slot(start, start + busy, start + max(self.hw.dma.latency_cycles, busy))

    # EWP

    def ewp_cycles(self, ins: Instruction) -> int:
        words = EWP_WORDS[type(ins)](ins, self.lim)
        return self.hw.ewp.overhead_cycles + -(-words // self.hw.ewp.words_per_cycle)

    def _plan_ewp(self, ins: Instruction, ready: int) -> Slot:
        start = max(ready, self.free["EWP"])
        end = start + self.ewp_cycles(ins)
        return Slot(start, end, end)

    # ME

    def _plan_me(self, ins: Instruction, ready: int) -> Slot:
        if isinstance(ins, LoadWeights):
            start = max(ready, self.free["ME.load"], self._released[ins.buf])
            end = start + weight_tile_words(ins.k, ins.m, self.lim.cwl)
            return Slot(start, end, end)
        if isinstance(ins, Gemm):
            return self._plan_gemm(ins, ready)
        assert isinstance(ins, Drain)
        start = max(ready, self.free["ME.drain"], self.free["ME.array"])
        end = start + ins.dst.count
        return Slot(start, end, end)

    def _plan_gemm(self, ins: Gemm, ready: int) -> Slot:
        rows = ins.x.count
        ready = max(ready, self._loaded[ins.buf], int(self._drained[ins.acc : ins.acc + rows].max()))
        array_free = self.free["ME.array"]
        if self._array_used and ready <= array_free:
            # The array did not wait: the burst continues, topping its fill up to this tile's K+M.
            end = array_free + max(0, ins.k + ins.m - self._burst_fill) + rows
            return Slot(array_free, end, end)
        end = ready + ins.k + ins.m + rows
        return Slot(ready, end, end, new_burst=True)

    def _commit_me(self, ins: Instruction, slot: Slot) -> None:
        self._me_issue = slot.start
        if isinstance(ins, LoadWeights):
            self._loaded[ins.buf] = slot.done
        elif isinstance(ins, Gemm):
            fill = ins.k + ins.m
            self._burst_fill = fill if slot.new_burst else max(self._burst_fill, fill)
            self._released[ins.buf] = slot.done
            self._array_used = True
        elif isinstance(ins, Drain):
            self._drained[ins.acc : ins.acc + ins.dst.count] = slot.done


def host_transfer_us(nbytes: int, hw: ModelParameters) -> float:
    """Time the host link needs to move ``nbytes`` one way (before or after the device runs)."""
    return float(exact_host_transfer_us(nbytes, hw))


def exact_host_transfer_us(nbytes: int, hw: ModelParameters) -> Fraction:
    """:func:`host_transfer_us` as an exact fraction (the host queues add many of them up)."""
    return Fraction(nbytes * 10**6, hw.host.link_bytes_per_second)
