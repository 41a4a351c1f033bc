"""Build programs instruction by instruction, with dependencies given as references."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from pytpu.isa.base import Instruction
from pytpu.isa.program import LayerSpan, Program
from pytpu.isa.units import UNITS, Ref, Unit


class ProgramBuilder:
    """Appends instructions to unit streams and records layer spans.

    ``rows = b.emit(Unit.DTL0, load)`` returns the load's reference; ``b.emit(Unit.ME, gemm, after=[rows])``
    makes the GEMM wait for it; instructions emitted inside ``with b.layer("conv1"):`` form layer ``conv1``
    of the side table (``b.layers``).
    """

    def __init__(self) -> None:
        self._streams: dict[Unit, list[Instruction]] = {unit: [] for unit in UNITS}
        self._layers: list[LayerSpan] = []

    def emit(self, unit: Unit, ins: Instruction, after: Iterable[Ref] = ()) -> Ref:
        """Append ``ins`` to ``unit``'s stream, waiting for ``after`` (added to its own deps); returns its ref."""
        deps = tuple(dict.fromkeys((*ins.deps, *after)))
        stream = self._streams[unit]
        stream.append(ins.with_deps(deps) if deps != ins.deps else ins)
        return Ref(unit, len(stream) - 1)

    def next_ref(self, unit: Unit) -> Ref:
        """The reference the next instruction emitted on ``unit`` will get."""
        return Ref(unit, len(self._streams[unit]))

    @contextmanager
    def layer(self, name: str) -> Iterator[None]:
        """Instructions emitted inside the block belong to layer ``name`` in reports."""
        starts = {unit: len(self._streams[unit]) for unit in UNITS}
        yield
        for unit in UNITS:
            stop = len(self._streams[unit])
            if stop > starts[unit]:
                self._layers.append(LayerSpan(name, unit.name, starts[unit], stop))

    @property
    def layers(self) -> tuple[LayerSpan, ...]:
        return tuple(self._layers)

    def build(self) -> Program:
        return Program.from_streams(self._streams)
