"""DMA instructions: whole words between a DDR channel and the cache, on lane DTL0 or DTL1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pytpu.isa.base import Instruction, Problem, Space, Span, counts_problems, register
from pytpu.isa.fields import Bound, Field, Limits, cache, ddr, uint
from pytpu.isa.pattern import Pattern
from pytpu.isa.units import DMA_LANES, Unit

_CH = uint("ch", 0, Bound("ddr_channels", -1), "DDR channel")
_DDR = ddr("ddr", "DDR words (word address = byte address / cwl)")
_CACHE = cache("cache", "cache words (count = ddr's)")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Transfer(Instruction):
    UNITS: ClassVar[tuple[Unit, ...]] = DMA_LANES

    ch: int
    ddr: Pattern
    cache: Pattern

    def spans(self, lim: Limits) -> tuple[Span, ...]:
        (dlo, dhi), (clo, chi) = self.ddr.span(), self.cache.span()
        return (Span(Space.DDR, dlo, dhi, "ddr", self.ch), Span(Space.CACHE, clo, chi, "cache"))

    def constraints(self, lim: Limits) -> list[Problem]:
        return counts_problems(self.ddr.count, cache=self.cache.count)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Load(_Transfer):
    """DDR -> cache: ``cache[i] = ddr[i]``."""

    MNEMONIC: ClassVar[str] = "LOAD"
    OPCODE: ClassVar[int] = 0x20
    FIELDS: ClassVar[tuple[Field, ...]] = (_CH, _DDR, _CACHE)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Store(_Transfer):
    """cache -> DDR: ``ddr[i] = cache[i]``."""

    MNEMONIC: ClassVar[str] = "STORE"
    OPCODE: ClassVar[int] = 0x21
    FIELDS: ClassVar[tuple[Field, ...]] = (_CH, _CACHE, _DDR)
