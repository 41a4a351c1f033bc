"""Checks of one instruction on its own: field ranges, capacities, and the rules between its fields.

The static checker runs them on every instruction before a program runs; the simulated device runs the
capacity part again on each instruction as it executes it, so a program run without the checker still
cannot touch memory it does not have.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytpu.errors import (
    AccumulatorCapacityError,
    AddressError,
    CacheCapacityError,
    DdrCapacityError,
    FieldRangeError,
)
from pytpu.isa.base import Instruction, Problem, Space, Span
from pytpu.isa.fields import Field, Kind, Limits, field_problem
from pytpu.isa.units import Ref, Unit


def describe(unit: Unit, index: int, ins: Instruction) -> str:
    """How messages name an instruction: ``ME:12 GEMM``."""
    return f"{unit.name}:{index} {ins.MNEMONIC}"


_RANGES: dict[tuple[type[Instruction], Limits], tuple[tuple[Field, int, int, bool], ...]] = {}


def _int_ranges(cls: type[Instruction], lim: Limits) -> tuple[tuple[Field, int, int, bool], ...]:
    """Each field with its resolved bounds and whether the quick integer test decides it (cached)."""
    key = (cls, lim)
    if key not in _RANGES:
        _RANGES[key] = tuple((f, *f.bounds(lim), f.kind in (Kind.UINT, Kind.INT)) for f in cls.FIELDS)
    return _RANGES[key]


def field_problems(ins: Instruction, lim: Limits) -> list[Problem]:
    out: list[Problem] = []
    for field, lo, hi, plain_int in _int_ranges(type(ins), lim):
        value = getattr(ins, field.name)
        if plain_int and type(value) is int and lo <= value <= hi:
            continue  # the common case, without building a message
        message = field_problem(field, value, lim)
        if message is not None:
            out.append((FieldRangeError, message))
    return out


def span_problem(span: Span, lim: Limits) -> Problem | None:
    """Why a span leaves its memory, or None."""
    error: type[AddressError]
    if span.space is Space.CACHE:
        size, error, unit_name = lim.cache_words, CacheCapacityError, "cache words"
    elif span.space is Space.ACC:
        size, error, unit_name = lim.acc_rows, AccumulatorCapacityError, "accumulator rows"
    else:
        if not 0 <= span.channel < lim.ddr_channels:
            return DdrCapacityError, f"DDR channel {span.channel} does not exist ({lim.ddr_channels} channels)"
        size, error, unit_name = lim.ddr_words, DdrCapacityError, f"words of DDR{span.channel}"
    if span.lo >= 0 and span.hi < size:
        return None
    return error, f"{span.what}: {unit_name} {span.lo}..{span.hi} outside 0..{size - 1}"


def span_problems(ins: Instruction, lim: Limits) -> list[Problem]:
    found = (span_problem(span, lim) for span in ins.spans(lim))
    return [problem for problem in found if problem is not None]


def instruction_problems(ins: Instruction, lim: Limits) -> list[Problem]:
    """Every problem of one instruction; spans and constraints only once the fields are in range."""
    problems = field_problems(ins, lim)
    if problems:
        return problems
    return span_problems(ins, lim) + ins.constraints(lim)


Located = tuple[Ref, Instruction, Problem]
"""A problem and the instruction it belongs to."""


def raise_problems(found: Sequence[Located]) -> None:
    """Raise the first problem's error class, naming its instruction, with every problem listed."""
    if not found:
        return
    ref, _, (error, _) = found[0]
    lines = [f"{describe(r.unit, r.index, ins)}: {message}" for r, ins, (_, message) in found[:20]]
    if len(found) > 20:
        lines.append(f"... and {len(found) - 20} more")
    raise error("\n".join(lines), ref.unit.name, ref.index)
