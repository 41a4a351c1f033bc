"""The instruction base class, the registry of instruction classes, and access spans."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar, TypeVar

from pytpu.errors import AlignmentError, FieldRangeError, ProgramError
from pytpu.isa.fields import Field, Limits
from pytpu.isa.units import Ref, Unit

Problem = tuple[type[ProgramError], str]
"""An error class and its message, found while checking an instruction."""


class Space(Enum):
    """A memory an instruction addresses."""

    CACHE = "cache"
    ACC = "accumulator"
    DDR = "DDR"


@dataclass(frozen=True, slots=True)
class Span:
    """The inclusive range ``lo..hi`` of words (or accumulator rows) an instruction touches in one memory."""

    space: Space
    lo: int
    hi: int
    what: str
    channel: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Instruction:
    """One instruction of a unit's stream; ``deps`` lists instructions it waits for (their completion)."""

    deps: tuple[Ref, ...] = ()

    MNEMONIC: ClassVar[str] = ""
    OPCODE: ClassVar[int] = -1
    UNITS: ClassVar[tuple[Unit, ...]] = ()
    QUEUE: ClassVar[str] = ""
    """Timing queue (sub-unit) it occupies; empty means the unit itself (a DMA lane, the EWP)."""
    FIELDS: ClassVar[tuple[Field, ...]] = ()

    def spans(self, lim: Limits) -> tuple[Span, ...]:
        """Every memory range the instruction reads or writes."""
        return ()

    def constraints(self, lim: Limits) -> list[Problem]:
        """Rules that relate fields to each other (beyond each field's own range)."""
        return []

    def field_values(self) -> tuple[object, ...]:
        return tuple(getattr(self, f.name) for f in self.FIELDS)

    def with_deps(self, deps: tuple[Ref, ...]) -> Instruction:
        return dataclasses.replace(self, deps=deps)


BY_OPCODE: dict[int, type[Instruction]] = {}
BY_MNEMONIC: dict[str, type[Instruction]] = {}

T = TypeVar("T", bound=type[Instruction])


def register(cls: T) -> T:
    """Add an instruction class to the instruction set (checks its field table matches its attributes)."""
    declared = {f.name for f in dataclasses.fields(cls)} - {"deps"}
    listed = [f.name for f in cls.FIELDS]
    if declared != set(listed) or len(listed) != len(set(listed)):
        raise TypeError(f"{cls.__name__}: FIELDS {listed} do not match the attributes {sorted(declared)}")
    if cls.OPCODE in BY_OPCODE or cls.MNEMONIC in BY_MNEMONIC or not 0 <= cls.OPCODE < 256:
        raise TypeError(f"{cls.__name__}: opcode {cls.OPCODE:#x} or mnemonic {cls.MNEMONIC} reused or invalid")
    BY_OPCODE[cls.OPCODE] = cls
    BY_MNEMONIC[cls.MNEMONIC] = cls
    return cls


def queue_of(unit: Unit, ins: Instruction) -> str:
    """The timing queue an instruction of ``unit`` occupies."""
    return ins.QUEUE or unit.name


def lanes_problems(off: int, length: int, lim: Limits, what: str = "bytes") -> list[Problem]:
    """A byte range inside a word must end inside it."""
    if off + length <= lim.cwl:
        return []
    return [(AlignmentError, f"{what} {off}..{off + length - 1} cross the end of a {lim.cwl}-byte word")]


def clamp_problems(lo: int, hi: int) -> list[Problem]:
    return [] if lo <= hi else [(FieldRangeError, f"clamp lo={lo} is above hi={hi}")]


def counts_problems(expected: int, **patterns: int) -> list[Problem]:
    """Patterns walked together must have the same element count."""
    bad = {name: n for name, n in patterns.items() if n != expected}
    if not bad:
        return []
    listed = ", ".join(f"{name} walks {n}" for name, n in bad.items())
    return [(ProgramError, f"element counts differ: expected {expected}, {listed}")]
