"""Reordering the EWP's stream by when its instructions can start (a PARALLEL pass after ``resolve``).

Lowering emits layer after layer, and the EWP runs its stream in order: an instruction whose data are
ready waits behind an earlier one that waits for the array (the next band's input copy, say), and a
layer's element-wise work waits behind all of the layer before it.  This pass times the program on the
simulated device (``Simulator.time``: no data, only when each instruction would run), lists the EWP
instructions by the time their dependencies on other units were done, and never moves one ahead of an
earlier EWP instruction it conflicts with (``resolve``'s barriers).  An instruction that depends on
another through other units keeps its place after it: it was ready only after the other was done.
``resolve`` then builds the program again with the EWP stream in that order (the meaning of the program
is still the emission order), and the new program is kept only if it is faster.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable

from pytpu.errors import DependencyError
from pytpu.isa import LayerSpan, Program, Unit
from pytpu.params import ModelParameters
from pytpu.sim import Simulator

Rebuild = Callable[[list[int]], tuple[Program, tuple[LayerSpan, ...]]]
"""The program again, each EWP instruction (in emission order) at the given position of the EWP stream."""


def reorder_ewp(
    program: Program, spans: tuple[LayerSpan, ...], barriers: list[int], hw: ModelParameters, rebuild: Rebuild
) -> tuple[Program, tuple[LayerSpan, ...]]:
    """``program`` with its EWP stream listed by readiness, if that is faster; else ``program`` as it is."""
    ewp = program.ewp
    if len(ewp) < 2:
        return program, spans
    before = Simulator(hw).time(program)
    done = {(e.unit, e.index): e.done for e in before.events}
    ready = [max((done[(d.unit, d.index)] for d in ins.deps if d.unit is not Unit.EWP), default=0) for ins in ewp]
    order = by_readiness(ready, barriers)
    if order == list(range(len(ewp))):
        return program, spans
    positions = [0] * len(order)
    for new, old in enumerate(order):
        positions[old] = new
    candidate, moved = rebuild(positions)
    try:
        after = Simulator(hw).time(candidate)
    except DependencyError:  # not expected (see the module docstring); the program as lowered is safe
        return program, spans
    if after.execution_time_us >= before.execution_time_us:
        return program, spans
    return candidate, moved


def by_readiness(ready: list[int], barriers: list[int]) -> list[int]:
    """Indices by ready time (ties: original order), each after every index up to its barrier."""
    waiting: dict[int, list[int]] = defaultdict(list)
    heap: list[tuple[int, int]] = []
    for i, barrier in enumerate(barriers):
        if barrier < 0:
            heap.append((ready[i], i))
        else:
            waiting[barrier].append(i)
    heapq.heapify(heap)
    placed = [False] * len(ready)
    prefix = 0  # indices below are all placed
    order: list[int] = []
    while heap:
        _, i = heapq.heappop(heap)
        order.append(i)
        placed[i] = True
        while prefix < len(placed) and placed[prefix]:
            for j in waiting.pop(prefix, ()):
                heapq.heappush(heap, (ready[j], j))
            prefix += 1
    return order
