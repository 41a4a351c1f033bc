"""The static checker: validates a whole program before it runs.

Passes, each raising a :class:`~pytpu.errors.ProgramError` subclass that lists every problem it found:

1. every instruction runs on a unit that has it, every field is in range, every access stays inside the
   cache, the accumulators and DDR, byte ranges stay inside their words, walked patterns agree in length;
2. every dependency names an existing instruction (of the same unit only an earlier one);
3. every GEMM multiplies by a tile its buffer was loaded with (same K and M);
4. the dependencies do not deadlock the units (with in-order streams, a cycle);
5. optionally, no data race on the cache (see :mod:`pytpu.sim.hazards`).
"""

from __future__ import annotations

from pytpu.errors import DependencyError, ProgramError
from pytpu.isa.base import Instruction, Problem
from pytpu.isa.fields import Limits, limits_of
from pytpu.isa.me import Gemm, LoadWeights
from pytpu.isa.program import Program
from pytpu.isa.units import UNITS, Ref, Unit
from pytpu.isa.validate import Located, describe, instruction_problems, raise_problems
from pytpu.params import ModelParameters
from pytpu.sim.hazards import check_hazards
from pytpu.sim.recent import RecentPrograms

_PASSED: RecentPrograms[tuple[bool, list[Ref]]] = RecentPrograms()
"""Programs that passed lately (with the hazard check or not, and their order): not checked again."""


def check_program(program: Program, hw: ModelParameters, *, hazards: bool = True) -> list[Ref]:
    """Validate ``program`` for platform ``hw``; returns an order in which its instructions can complete.

    The last few programs that passed are remembered (by identity), so running one inference after another
    checks the program once, as a runtime does when it loads it.
    """
    known = _PASSED.get(program, hw)
    if known is not None and (known[0] or not hazards):
        return list(known[1])
    order = _check(program, hw, hazards)
    _PASSED.put(program, hw, (hazards, order))
    return list(order)


def _check(program: Program, hw: ModelParameters, hazards: bool) -> list[Ref]:
    lim = limits_of(hw)
    raise_problems(instruction_checks(program, lim))
    raise_problems(dependency_checks(program))
    raise_problems(weight_buffer_checks(program))
    order = execution_order(program)
    if hazards:
        check_hazards(program, lim, order)
    return order


def instruction_checks(program: Program, lim: Limits) -> list[Located]:
    out: list[Located] = []
    for ref, ins in program.refs():
        unit_problem = wrong_unit(ref.unit, ins)
        if unit_problem:
            out.append((ref, ins, unit_problem))
        out.extend((ref, ins, problem) for problem in instruction_problems(ins, lim))
    return out


def wrong_unit(unit: Unit, ins: Instruction) -> Problem | None:
    if unit in ins.UNITS:
        return None
    return ProgramError, f"runs on {'/'.join(u.name for u in ins.UNITS)}, not {unit.name}"


def dependency_checks(program: Program) -> list[Located]:
    out: list[Located] = []
    for ref, ins in program.refs():
        for dep in ins.deps:
            message = _dependency_problem(program, ref, dep)
            if message:
                out.append((ref, ins, (DependencyError, message)))
    return out


def _dependency_problem(program: Program, ref: Ref, dep: Ref) -> str | None:
    if not isinstance(dep.unit, Unit) or not 0 <= dep.index < len(program.stream(dep.unit)):
        return f"waits for {dep}, which does not exist"
    if dep.unit == ref.unit and dep.index >= ref.index:
        return f"waits for {dep}, which cannot run before it (same unit, not earlier)"
    return None


def weight_buffer_checks(program: Program) -> list[Located]:
    """Follow the ME stream: a GEMM must use a buffer loaded (earlier) with a tile of its K and M."""
    out: list[Located] = []
    held: dict[int, tuple[int, int]] = {}
    for index, ins in enumerate(program.me):
        if isinstance(ins, LoadWeights):
            held[ins.buf] = (ins.k, ins.m)
        elif isinstance(ins, Gemm) and held.get(ins.buf) != (ins.k, ins.m):
            tile = held.get(ins.buf)
            has = "no tile" if tile is None else f"a {tile[0]}x{tile[1]} tile"
            message = f"multiplies by a {ins.k}x{ins.m} tile but buffer {ins.buf} holds {has}"
            out.append((Ref(Unit.ME, index), ins, (ProgramError, message)))
    return out


def execution_order(program: Program) -> list[Ref]:
    """Instructions in an order that respects stream order and dependencies; DependencyError on deadlock."""
    streams = program.streams
    heads = [0] * len(UNITS)
    order: list[Ref] = []
    progressed = True
    while progressed:
        progressed = False
        for unit in UNITS:
            stream = streams[unit]
            while heads[unit] < len(stream) and all(d.index < heads[d.unit] for d in stream[heads[unit]].deps):
                order.append(Ref(unit, heads[unit]))
                heads[unit] += 1
                progressed = True
    if len(order) < len(program):
        stuck = [
            f"  {describe(u, heads[u], streams[u][heads[u]])} waits for "
            + ", ".join(str(d) for d in streams[u][heads[u]].deps if d.index >= heads[d.unit])
            for u in UNITS
            if heads[u] < len(streams[u])
        ]
        raise DependencyError("the dependencies form a cycle (deadlock):\n" + "\n".join(stuck))
    return order
