"""The execution engine: runs the instruction streams in simulated start-time order.

At every step the engine takes, among the heads of the four streams whose dependencies have completed,
the one that can start earliest (ties go to ME, EWP, DTL0, DTL1 in that order), applies every write that
has landed by then, executes the instruction's semantics on the device state as it is at that moment, and
schedules its writes to land when it completes.  A missing dependency therefore changes the timing and
may read stale data, as it would on hardware.

Timing depends on the instructions only, never on the data, so a run records what it did as a
:class:`Schedule` (which instruction ran when, and when each one's writes landed).  Running the same
program again replays the schedule: the same semantics in the same order against the data, without
planning a single slot again (see :func:`execute`).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytpu.errors import DependencyError, ProgramError
from pytpu.isa.base import Instruction, queue_of
from pytpu.isa.dma import Load, Store
from pytpu.isa.program import Program
from pytpu.isa.units import DMA_LANES, UNITS, Ref, Unit
from pytpu.isa.validate import describe, instruction_problems, raise_problems
from pytpu.params import ModelParameters
from pytpu.sim import fusion, ops
from pytpu.sim.checker import wrong_unit
from pytpu.sim.off_main import off_main_thread
from pytpu.sim.ops.op_me import drain_formed, drain_shared, form_early, load_kept
from pytpu.sim.recent import RecentPrograms
from pytpu.sim.state import CACHE, DeviceState, Write
from pytpu.sim.timeline import Event, Timeline
from pytpu.sim.timing import Slot, TimingModel

Call = tuple[Callable[[Any, DeviceState], list[Write]], Any]
"""A step's semantics function and its argument."""


@dataclass(frozen=True)
class Schedule:
    """What a run of a program did, data aside: its timeline and its actions in order.

    ``actions[i] >= 0`` executes ``refs[actions[i]]`` (the unit and index of the n-th instruction executed);
    ``~step`` (a negative number) lands the writes of the step-th instruction executed.  For replaying (empty
    after a run without data): ``calls`` holds each step's semantics function and its argument, the
    instruction or, for a step that forms a sum, a :class:`~pytpu.sim.fusion.FormedSum` or
    :class:`~pytpu.sim.fusion.SharedRows`; ``replay_actions`` are ``actions`` without the steps those sums skip.
    """

    timeline: Timeline
    refs: tuple[tuple[Unit, int], ...]
    actions: tuple[int, ...]
    calls: tuple[Call, ...] = ()
    replay_actions: tuple[int, ...] = ()


_SCHEDULES: RecentPrograms[Schedule] = RecentPrograms()
"""Schedules of the programs that ran lately with data and without an error."""


def execute(program: Program, state: DeviceState, *, checked: bool = False, data: bool = True) -> Timeline:
    """Run ``program`` on ``state`` (``data=False``: time it only, leaving the memories alone).

    A program that has not been through the static checker (``checked=False``) is checked instruction by
    instruction as it executes (unit, fields, accesses against capacity and alignment, rules, dependencies),
    so it cannot touch memory the device does not have; one that has been is not checked twice.  A program
    that ran to the end lately (on this platform) replays its schedule.  A run with data runs off the main
    thread (see :mod:`pytpu.sim.off_main`).
    """
    if data:
        return off_main_thread(_execute, program, state, checked)
    return _execute(program, state, checked, data=False)


def _execute(program: Program, state: DeviceState, checked: bool, data: bool = True) -> Timeline:
    schedule = recorded(program, state.hw)
    if schedule is None:
        schedule = _Engine(program, state, checked, data).run()
        if data:  # a run with data was checked (statically or as it went); a timing-only one need not be
            _SCHEDULES.put(program, state.hw, schedule)
    elif data:
        replay(program, schedule, state)
    return schedule.timeline


def recorded(program: Program, hw: ModelParameters) -> Schedule | None:
    """The schedule of ``program`` on ``hw`` if it ran lately, else None."""
    return _SCHEDULES.get(program, hw)


def replay(program: Program, schedule: Schedule, state: DeviceState) -> None:
    """Execute the semantics of ``program`` on ``state`` in the order ``schedule`` recorded."""
    calls = schedule.calls
    landing: list[list[Write] | None] = [None] * len(calls)
    for action in schedule.replay_actions:
        if action < 0:
            writes = landing[~action]
            if writes:  # most ME instructions write nothing at completion
                _apply(writes, state)
                landing[~action] = None
            continue
        function, argument = calls[action]
        try:
            landing[action] = function(argument, state)
        except ProgramError as exc:
            unit, index = schedule.refs[action]
            raise _named(exc, unit, index, program.streams[unit][index]) from None


def _call(formed: fusion.FormedSum | fusion.SharedRows | None) -> Call | None:
    """How a replay runs a step that forms a sum (None for any other step)."""
    if formed is None:
        return None
    if isinstance(formed, fusion.SharedRows):
        return drain_shared, formed
    return (form_early, formed) if formed.early else (drain_formed, formed)


def _kept_call(kept: fusion.KeptLoad | None) -> Call | None:
    """How a replay runs a LOADW whose copy formed sums read (None for any other step)."""
    return None if kept is None else (load_kept, kept)


def _apply(writes: list[Write], state: DeviceState) -> None:
    for write in writes:
        write.apply(state)


def _semantics(
    table: dict[type[Instruction], ops.Semantics], unit: Unit, index: int, ins: Instruction, state: DeviceState
) -> list[Write]:
    try:
        return table[type(ins)](ins, state)
    except ProgramError as exc:
        raise _named(exc, unit, index, ins) from None


def _named(exc: ProgramError, unit: Unit, index: int, ins: Instruction) -> ProgramError:
    """``exc`` naming the instruction that raised it (as it is if it names one already)."""
    if exc.unit is not None:
        return exc
    return type(exc)(f"{describe(unit, index, ins)}: {exc}", unit.name, index)


class _Engine:
    def __init__(self, program: Program, state: DeviceState, checked: bool, data: bool):
        self.streams = program.streams
        self.data = data
        self.state = state
        self.checked = checked
        self.timing = TimingModel(state.hw)
        self.semantics = ops.table()
        self.done: list[list[int]] = [[-1] * len(s) for s in self.streams]
        self.heads = [0] * len(UNITS)
        self.verified = [0] * len(UNITS)  # instructions below this index of each stream have been checked
        self.plans: list[Slot | None] = [None] * len(UNITS)
        self.pending: list[tuple[int, int]] = []  # (completion, step): steps whose writes have not landed
        self.writes: list[list[Write] | None] = []  # by step
        self.refs: list[tuple[Unit, int]] = []  # by step
        self.actions: list[int] = []
        self.events: list[Event] = []
        self.written: dict[int, list[fusion.Words]] = {}  # by step: the cache words its writes covered

    def run(self) -> Schedule:
        while (choice := self._next()) is not None:
            self._execute(*choice)
        self._land(None)
        if any(self.heads[u] < len(self.streams[u]) for u in UNITS):
            raise DependencyError(self._deadlock_message())
        timeline = Timeline(self.state.hw, tuple(self.events))
        actions = tuple(self.actions)
        if not self.data:
            return Schedule(timeline, tuple(self.refs), actions)
        steps = [self.streams[unit][index] for unit, index in self.refs]
        plan = fusion.plan(steps, actions, self.written, self.state.lim.cwl)
        table = self.semantics
        calls = tuple(
            _call(plan.formed.get(step)) or _kept_call(plan.kept.get(step)) or (table[type(ins)], ins)
            for step, ins in enumerate(steps)
        )
        kept = tuple(a for a in actions if (a if a >= 0 else ~a) not in plan.skipped)
        return Schedule(timeline, tuple(self.refs), actions, calls, kept)

    def _next(self) -> tuple[Unit, Slot] | None:
        best: tuple[Unit, Slot] | None = None
        for unit in UNITS:
            slot = self._plan(unit)
            if slot is not None and (best is None or slot.start < best[1].start):
                best = (unit, slot)
        return best

    def _plan(self, unit: Unit) -> Slot | None:
        """The slot of ``unit``'s next instruction, or None if it has none or waits for one not yet run."""
        cached = self.plans[unit]
        if cached is not None:
            return cached
        index = self.heads[unit]
        stream = self.streams[unit]
        if index >= len(stream):
            return None
        ins = stream[index]
        if not self.checked and self.verified[unit] <= index:
            self._check(unit, index, ins)
            self.verified[unit] = index + 1
        ready = 0
        done = self.done
        for dep in ins.deps:
            finished = done[dep.unit][dep.index]
            if finished < 0:
                return None
            if finished > ready:
                ready = finished
        slot = self.plans[unit] = self.timing.plan(unit, ins, ready)
        return slot

    def _execute(self, unit: Unit, slot: Slot) -> None:
        index = self.heads[unit]
        ins = self.streams[unit][index]
        step = len(self.refs)
        self._land(slot.start)
        self.refs.append((unit, index))
        self.actions.append(step)
        self.writes.append(_semantics(self.semantics, unit, index, ins, self.state) if self.data else None)
        heapq.heappush(self.pending, (slot.done, step))
        self.timing.commit(unit, ins, slot)
        self.done[unit][index] = slot.done
        self.heads[unit] += 1
        self.plans[unit] = None
        if unit in DMA_LANES:  # the lanes share DDR channels: the other lane's plan may have moved
            for lane in DMA_LANES:
                self.plans[lane] = None
        channel = ins.ch if isinstance(ins, Load | Store) else -1
        queue = queue_of(unit, ins)
        self.events.append(Event(unit, index, ins.MNEMONIC, queue, slot.start, slot.end, slot.done, channel))

    def _check(self, unit: Unit, index: int, ins: Instruction) -> None:
        """What the static checker would have: the unit, every field, access and rule, the dependencies.

        A program that passed the static checker (``checked``) is not checked again here.
        """
        lim, ref = self.state.lim, Ref(unit, index)
        unit_problem = wrong_unit(unit, ins)
        if unit_problem:
            raise_problems([(ref, ins, unit_problem)])
        raise_problems([(ref, ins, p) for p in instruction_problems(ins, lim)])
        for dep in ins.deps:
            if not (0 <= dep.index < len(self.streams[dep.unit])):
                raise DependencyError(
                    f"{describe(unit, index, ins)}: waits for {dep}, which does not exist", unit.name, index
                )

    def _land(self, now: int | None) -> None:
        """Apply the writes of every instruction complete by ``now`` (all of them if None)."""
        pending = self.pending
        while pending and (now is None or pending[0][0] <= now):
            step = heapq.heappop(pending)[1]
            self.actions.append(~step)
            writes = self.writes[step]
            if writes:
                _apply(writes, self.state)
                self.written[step] = [w.words for w in writes if w.target == CACHE and len(w.values)]
            self.writes[step] = None

    def _deadlock_message(self) -> str:
        lines = ["deadlock: no unit can proceed"]
        for unit in UNITS:
            index = self.heads[unit]
            if index < len(self.streams[unit]):
                ins = self.streams[unit][index]
                waiting = [str(d) for d in ins.deps if self.done[d.unit][d.index] < 0]
                lines.append(f"  {describe(unit, index, ins)} waits for {', '.join(waiting)}")
        return "\n".join(lines)
