"""A program: one in-order instruction stream per unit, and the side table of layer spans."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from pytpu.isa.base import Instruction
from pytpu.isa.units import UNITS, Ref, Unit


@dataclass(frozen=True)
class Program:
    """Instruction streams of the ME, the EWP and the two DMA lanes."""

    me: tuple[Instruction, ...] = ()
    ewp: tuple[Instruction, ...] = ()
    dtl0: tuple[Instruction, ...] = ()
    dtl1: tuple[Instruction, ...] = ()

    @classmethod
    def from_streams(cls, streams: Mapping[Unit, Sequence[Instruction]]) -> Program:
        return cls(*(tuple(streams.get(unit, ())) for unit in UNITS))

    @property
    def streams(self) -> tuple[tuple[Instruction, ...], ...]:
        """The four streams in ``Unit`` order."""
        return (self.me, self.ewp, self.dtl0, self.dtl1)

    def stream(self, unit: Unit) -> tuple[Instruction, ...]:
        return self.streams[unit]

    def __getitem__(self, ref: Ref) -> Instruction:
        return self.streams[ref.unit][ref.index]

    def __len__(self) -> int:
        return sum(len(s) for s in self.streams)

    def refs(self) -> Iterator[tuple[Ref, Instruction]]:
        """Every instruction with its reference, unit by unit."""
        for unit in UNITS:
            for index, ins in enumerate(self.stream(unit)):
                yield Ref(unit, index), ins

    def without_dep(self, ref: Ref, dep: Ref) -> Program:
        """The same program with one dependency removed from one instruction (for experiments and tests)."""
        ins = self[ref]
        if dep not in ins.deps:
            raise KeyError(f"{ref} does not depend on {dep}")
        changed = ins.with_deps(tuple(d for d in ins.deps if d != dep))
        streams = {u: list(self.stream(u)) for u in UNITS}
        streams[ref.unit][ref.index] = changed
        return Program.from_streams(streams)


@dataclass(frozen=True)
class LayerSpan:
    """Instructions ``start <= index < stop`` of one unit's stream belong to layer ``name`` (for reports only)."""

    name: str
    unit: str
    start: int
    stop: int
