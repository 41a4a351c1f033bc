"""EWP layout moves: byte-range copies between words, and fills."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pytpu.isa.base import Instruction, Problem, Space, Span, counts_problems, lanes_problems, register
from pytpu.isa.fields import Bound, Field, Limits, cache, int8, lane_fields, uint
from pytpu.isa.pattern import Pattern
from pytpu.isa.units import Unit


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Move(Instruction):
    """``dst[i][dst_off : dst_off+len] = src[i][src_off : src_off+len]``; other bytes of ``dst[i]`` are kept.

    With patterns and byte offsets this copies, slices and concatenates channels, transposes spatial axes,
    and moves tiles into padded buffers.
    """

    MNEMONIC: ClassVar[str] = "MOVE"
    OPCODE: ClassVar[int] = 0x17
    UNITS: ClassVar[tuple[Unit, ...]] = (Unit.EWP,)
    FIELDS: ClassVar[tuple[Field, ...]] = (
        cache("dst", "destination words"),
        cache("src", "source words (count = dst's)"),
        uint("src_off", 0, Bound("cwl", -1), "first source byte of each word"),
        uint("dst_off", 0, Bound("cwl", -1), "first destination byte of each word"),
        uint("len", 1, Bound("cwl"), "bytes moved per word"),
    )

    dst: Pattern
    src: Pattern
    src_off: int
    dst_off: int
    len: int

    def spans(self, lim: Limits) -> tuple[Span, ...]:
        (dlo, dhi), (slo, shi) = self.dst.span(), self.src.span()
        return (Span(Space.CACHE, dlo, dhi, "dst"), Span(Space.CACHE, slo, shi, "src"))

    def constraints(self, lim: Limits) -> list[Problem]:
        return (
            counts_problems(self.dst.count, src=self.src.count)
            + lanes_problems(self.src_off, self.len, lim, "source bytes")
            + lanes_problems(self.dst_off, self.len, lim, "destination bytes")
        )


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Fill(Instruction):
    """``dst[i][off : off+len] = value`` (padding borders, clearing buffers)."""

    MNEMONIC: ClassVar[str] = "FILL"
    OPCODE: ClassVar[int] = 0x18
    UNITS: ClassVar[tuple[Unit, ...]] = (Unit.EWP,)
    FIELDS: ClassVar[tuple[Field, ...]] = (
        cache("dst", "destination words"),
        int8("value", "code written"),
        *lane_fields(),
    )

    dst: Pattern
    value: int
    off: int
    len: int

    def spans(self, lim: Limits) -> tuple[Span, ...]:
        lo, hi = self.dst.span()
        return (Span(Space.CACHE, lo, hi, "dst"),)

    def constraints(self, lim: Limits) -> list[Problem]:
        return lanes_problems(self.off, self.len, lim)
