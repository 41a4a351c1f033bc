"""Reordering the EWP's and the DMA lanes' streams by when their instructions can start (a PARALLEL pass
after ``resolve``).

Lowering emits layer after layer, and each unit runs its stream in order: an instruction whose data are
ready waits behind an earlier one that waits for another unit (the next band's input copy behind a copy that
waits for the array; the next sample's first input rows behind the stores of the layer before them), and a
layer's work waits behind all of the layer before it.  This pass times the program on the simulated device
(``Simulator.time``: no data, only when each instruction would run) and lists each reorderable unit's
instructions as the unit would run them if it could pick (``list_schedule``): when free, the first in
emission order among those whose dependencies on other units were done by then (in that timing), never ahead
of an earlier instruction of its unit that touched the same words (``resolve``'s ``after``).  An instruction
that depends on another of its unit through other units stays after it: it was ready only after the other
was done, and so was every earlier instruction the other waited for in its unit.  ``resolve`` then builds the
program again with the streams in that order (the meaning of the program is still the emission order), and
the new program is kept only if it is faster.  Moving one unit's work earlier makes work of other units
ready earlier, so the pass repeats from the faster program (at most ``ROUNDS`` times) while a round saves
at least ``MIN_GAIN`` of the time.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping

from pytpu.errors import DependencyError
from pytpu.isa import LayerSpan, Program, Unit
from pytpu.params import ModelParameters
from pytpu.sim import Simulator

Rebuild = Callable[[Mapping[Unit, list[int]]], tuple[Program, tuple[LayerSpan, ...]]]
"""The program again, each instruction of the given units (in emission order) at the given stream position."""

ROUNDS = 3
MIN_GAIN = 0.005
"""A round is repeated only after one that saved at least this share of the time (each costs a dependency
pass and a timing of the whole program)."""


def reorder(
    program: Program,
    spans: tuple[LayerSpan, ...],
    after: Mapping[Unit, list[tuple[int, ...]]],
    hw: ModelParameters,
    rebuild: Rebuild,
) -> tuple[Program, tuple[LayerSpan, ...]]:
    """``program`` with the streams of ``after``'s units in the order ``list_schedule`` gives, if faster."""
    positions = {unit: list(range(len(a))) for unit, a in after.items()}  # emission index -> position
    timeline = Simulator(hw).time(program)
    for _ in range(ROUNDS):
        done = {(e.unit, e.index): e.done for e in timeline.events}
        busy = {(e.unit, e.index): e.end - e.start for e in timeline.events}
        proposed = {}
        for unit, unit_after in after.items():
            stream = program.stream(unit)
            ready = [
                max((done[(d.unit, d.index)] for d in stream[at].deps if d.unit is not unit), default=0)
                for at in positions[unit]
            ]
            cycles = [busy[(unit, at)] for at in positions[unit]]
            proposed[unit] = _inverse(list_schedule(ready, cycles, unit_after))
        if proposed == positions:
            break
        candidate, moved = rebuild(proposed)
        try:
            faster = Simulator(hw).time(candidate)
        except DependencyError:  # not expected (see the module docstring); the program as it is is safe
            break
        if faster.execution_time_us >= timeline.execution_time_us:
            break
        gain = 1 - faster.execution_time_us / timeline.execution_time_us
        program, spans, timeline, positions = candidate, moved, faster, proposed
        if gain < MIN_GAIN:
            break
    return program, spans


def _inverse(order: list[int]) -> list[int]:
    """Positions from an order: ``order[p]`` is the index placed at ``p``."""
    positions = [0] * len(order)
    for new, old in enumerate(order):
        positions[old] = new
    return positions


def list_schedule(ready: list[int], busy: list[int], after: list[tuple[int, ...]]) -> list[int]:
    """The order in which one in-order unit would run instructions if it could pick: whenever it is free, the
    first (in emission order) of those that are ready (``ready``: cycle) and whose ``after`` are placed, each
    taking ``busy`` cycles; when none is ready, it waits for the first that will be."""
    successors: list[list[int]] = [[] for _ in ready]
    waiting = [len(a) for a in after]
    for j, earlier in enumerate(after):
        for i in earlier:
            successors[i].append(j)
    pending = [(ready[j], j) for j in range(len(ready)) if not waiting[j]]  # placeable, by ready time
    heapq.heapify(pending)
    available: list[int] = []  # placeable and ready by `now`, by emission order
    order: list[int] = []
    now = 0
    while pending or available:
        while pending and pending[0][0] <= now:
            heapq.heappush(available, heapq.heappop(pending)[1])
        if not available:
            now = pending[0][0]
            continue
        i = heapq.heappop(available)
        order.append(i)
        now += busy[i]
        for j in successors[i]:
            waiting[j] -= 1
            if not waiting[j]:
                heapq.heappush(pending, (ready[j], j))
    return order
