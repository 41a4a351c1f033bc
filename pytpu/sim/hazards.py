"""Data-race check on the cache: every pair of accesses to a word, one of them a write, must be ordered.

Ordering is what the program makes explicit plus what the hardware guarantees:

* dependencies: an instruction starts after the instructions it lists have completed;
* stream order: instructions of a unit start in order; EWP instructions also complete in order; the
  matrix engine's weight loader, array and output stage each complete in order, with the interlocks of
  docs/isa.md (GEMM after its buffer's LOADW, LOADW after the GEMMs of its buffer, DRAIN after the GEMMs
  before it, GEMM after DRAINs of its accumulator rows); a DMA lane starts in order but its transfers
  complete later, so a lane's own earlier transfer is not ordered before the next one's start.

Each instruction gets a vector clock: per queue, the highest stream index of that queue known complete
when it starts.  Completion within a queue is monotone, so one number per queue is exact.  Then, walking
an order that respects the dependencies, per cache word and queue the last writer and the last reader:

* read-after-write: the last writer of every word read must be known complete;
* write-after-read: earlier readers on other units must be known complete (same-unit readers started
  earlier, and writes land only at completion);
* write-after-write: earlier writers on other queues must be known complete.

Words are the granule: two units writing different bytes of one word concurrently count as a race.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pytpu.errors import HazardError
from pytpu.isa.base import Instruction, queue_of
from pytpu.isa.dma import Load, Store
from pytpu.isa.ewp_arith import Add, Interp, Lut, Mul, PRelu, Rescale
from pytpu.isa.ewp_move import Fill, Move
from pytpu.isa.ewp_reduce import LayerNorm, Softmax
from pytpu.isa.ewp_window import AvgPool, MaxPool, Pack, Windowed
from pytpu.isa.fields import Limits
from pytpu.isa.layouts import (
    lane_mults_words,
    norm_params_words,
    output_stage_words,
    table32_words,
    weight_tile_words,
)
from pytpu.isa.me import Drain, Gemm, LoadWeights
from pytpu.isa.program import Program
from pytpu.isa.units import Ref, Unit
from pytpu.isa.validate import Located, describe, raise_problems
from pytpu.sim.timing import QUEUES

Clock = tuple[int, ...]
_Q = {name: i for i, name in enumerate(QUEUES)}
_QUEUE_UNIT = [Unit.ME if name.startswith("ME.") else Unit[name] for name in QUEUES]
_NONE = np.empty(0, dtype=np.int64)


def _span(start: int, count: int) -> np.ndarray:
    return np.arange(start, start + count, dtype=np.int64)


def _window_reads(ins: Windowed) -> np.ndarray:
    words, inside = ins.taps()
    return words[inside]


ACCESS: dict[type[Instruction], Callable[[Any, Limits], tuple[np.ndarray, np.ndarray]]] = {
    LoadWeights: lambda i, lim: (_span(i.addr, weight_tile_words(i.k, i.m, lim.cwl)), _NONE),
    Gemm: lambda i, lim: (i.x.addresses(), _NONE),
    Drain: lambda i, lim: (_span(i.params, output_stage_words(i.m, lim.cwl)), i.dst.addresses()),
    Rescale: lambda i, lim: (i.a.addresses(), i.dst.addresses()),
    Add: lambda i, lim: (np.concatenate([i.a.addresses(), i.b.addresses()]), i.dst.addresses()),
    Mul: lambda i, lim: (np.concatenate([i.a.addresses(), i.b.addresses()]), i.dst.addresses()),
    Lut: lambda i, lim: (np.concatenate([i.a.addresses(), _span(i.table, lim.lut_words)]), i.dst.addresses()),
    MaxPool: lambda i, lim: (_window_reads(i), i.dst.addresses()),
    AvgPool: lambda i, lim: (_window_reads(i), i.dst.addresses()),
    Pack: lambda i, lim: (_window_reads(i), i.dst.addresses()),
    Move: lambda i, lim: (i.src.addresses(), i.dst.addresses()),
    Fill: lambda i, lim: (_NONE, i.dst.addresses()),
    Softmax: lambda i, lim: (
        np.concatenate([i.src.addresses(), _span(i.table, table32_words(lim.cwl))]),
        i.dst.addresses(),
    ),
    PRelu: lambda i, lim: (
        np.concatenate([i.a.addresses(), _span(i.neg, lane_mults_words(lim.cwl))]),
        i.dst.addresses(),
    ),
    Interp: lambda i, lim: (np.concatenate([i.src.addresses() + d for d in i.offsets()]), i.dst.addresses()),
    LayerNorm: lambda i, lim: (
        np.concatenate(
            [
                i.src.addresses(),
                _span(i.table, table32_words(lim.cwl)),
                _span(i.params, norm_params_words(i.channels(lim), lim.cwl)),
            ]
        ),
        i.dst.addresses(),
    ),
    Load: lambda i, lim: (_NONE, i.cache.addresses()),
    Store: lambda i, lim: (i.cache.addresses(), _NONE),
}
"""Cache words each instruction reads and writes."""


def check_hazards(program: Program, lim: Limits, order: list[Ref]) -> None:
    """Raise HazardError listing every unordered pair of conflicting cache accesses."""
    clocks = _Clocks(program, lim)
    writer = np.full((len(QUEUES), lim.cache_words), -1, dtype=np.int64)
    reader = np.full((len(QUEUES), lim.cache_words), -1, dtype=np.int64)
    problems: list[Located] = []
    for ref in order:
        ins = program[ref]
        clock = clocks.start(ref, ins)
        reads, writes = ACCESS[type(ins)](ins, lim)
        queue = _Q[queue_of(ref.unit, ins)]
        for message in _races(program, ref, queue, clock, reads, writes, writer, reader):
            problems.append((ref, ins, (HazardError, message)))
        writer[queue, writes] = ref.index
        reader[queue, reads] = ref.index
    raise_problems(problems)


def _races(
    program: Program,
    ref: Ref,
    queue: int,
    clock: Clock,
    reads: np.ndarray,
    writes: np.ndarray,
    writer: np.ndarray,
    reader: np.ndarray,
) -> list[str]:
    out = []
    checks = (
        ("reads", "written by", reads, writer, lambda q: True),
        ("writes", "read by", writes, reader, lambda q: _QUEUE_UNIT[q] != ref.unit),
        ("writes", "also written by", writes, writer, lambda q: q != queue),
    )
    for verb, relation, words, table, applies in checks:
        if words.size == 0:
            continue
        last = table[:, words].max(axis=1)
        for q in range(len(QUEUES)):
            if last[q] > clock[q] and applies(q):
                other = Ref(_QUEUE_UNIT[q], int(last[q]))
                hit = words[table[q, words] > clock[q]]
                out.append(
                    f"{verb} cache words {hit.min()}..{hit.max()} {relation} "
                    f"{describe(other.unit, other.index, program[other])} and no dependency orders the two "
                    "(one of them must wait for the other)"
                )
    return out


class _Clocks:
    """Vector clocks at the start of each instruction, following the hardware's implicit orderings."""

    def __init__(self, program: Program, lim: Limits):
        self.program = program
        self.started: dict[Ref, Clock] = {}
        zero: Clock = (-1,) * len(QUEUES)
        self.prev_start = dict.fromkeys(Unit, zero)
        self.prev_done: dict[str, Clock] = {}
        self.buffer_loaded: dict[int, Clock] = {}
        self.buffer_used: dict[int, Clock] = {}
        self.drain_rows = np.full(lim.acc_rows, -1, dtype=np.int64)
        self.zero = zero

    def done(self, ref: Ref) -> Clock:
        """What is known complete once ``ref`` has completed: its start clock plus itself."""
        clock = list(self.started[ref])
        q = _Q[queue_of(ref.unit, self.program[ref])]
        clock[q] = max(clock[q], ref.index)
        return tuple(clock)

    def start(self, ref: Ref, ins: Instruction) -> Clock:
        parts = [self.prev_start[ref.unit], *(self.done(d) for d in ins.deps), *self._implied(ref, ins)]
        clock = tuple(max(values) for values in zip(*parts, strict=True))
        self.started[ref] = clock
        self.prev_start[ref.unit] = clock
        self._remember(ref, ins)
        return clock

    def _implied(self, ref: Ref, ins: Instruction) -> list[Clock]:
        """Completions the unit itself guarantees before ``ins`` starts."""
        if ref.unit is Unit.EWP:
            return [self.prev_done.get("EWP", self.zero)]
        if isinstance(ins, LoadWeights):
            return [self.prev_done.get("ME.load", self.zero), self.buffer_used.get(ins.buf, self.zero)]
        if isinstance(ins, Gemm):
            rows = self.drain_rows[ins.acc : ins.acc + ins.x.count]
            last_drain = int(rows.max()) if rows.size else -1
            drained = self.done(Ref(Unit.ME, last_drain)) if last_drain >= 0 else self.zero
            return [self.prev_done.get("ME.array", self.zero), self.buffer_loaded.get(ins.buf, self.zero), drained]
        if isinstance(ins, Drain):
            return [self.prev_done.get("ME.array", self.zero), self.prev_done.get("ME.drain", self.zero)]
        return []

    def _remember(self, ref: Ref, ins: Instruction) -> None:
        queue = queue_of(ref.unit, ins)
        if ref.unit in (Unit.DTL0, Unit.DTL1):
            return  # a lane's transfers complete after the next one starts: nothing implied
        self.prev_done[queue] = self.done(ref)
        if isinstance(ins, LoadWeights):
            self.buffer_loaded[ins.buf] = self.prev_done[queue]
        elif isinstance(ins, Gemm):
            self.buffer_used[ins.buf] = self.prev_done[queue]
        elif isinstance(ins, Drain):
            self.drain_rows[ins.acc : ins.acc + ins.dst.count] = ref.index
