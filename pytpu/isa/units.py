"""Units of the device and references to their instructions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Unit(IntEnum):
    """A unit that runs one in-order instruction stream."""

    ME = 0
    """Matrix engine: weight loader, systolic array, output stage."""
    EWP = 1
    """Element-wise processor."""
    DTL0 = 2
    """DMA lane 0."""
    DTL1 = 3
    """DMA lane 1."""


UNITS: tuple[Unit, ...] = tuple(Unit)
DMA_LANES: tuple[Unit, ...] = (Unit.DTL0, Unit.DTL1)


@dataclass(frozen=True, slots=True)
class Ref:
    """An instruction of a program: its unit and its index in that unit's stream."""

    unit: Unit
    index: int

    def __str__(self) -> str:
        return f"{self.unit.name}:{self.index}"


def unit_named(name: str) -> Unit:
    """``Unit.ME`` for ``"ME"``; raises KeyError for other names."""
    return Unit[name.upper()]
