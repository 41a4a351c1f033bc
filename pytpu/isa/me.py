"""Matrix engine instructions: load a weight tile, multiply, drain through the output stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pytpu.isa.base import Instruction, Problem, Space, Span, clamp_problems, lanes_problems, register
from pytpu.isa.fields import Bound, Field, Limits, addr, cache, int8, uint
from pytpu.isa.layouts import output_stage_words, weight_tile_words
from pytpu.isa.pattern import Pattern
from pytpu.isa.units import Unit

_BUF = uint("buf", 0, Bound("weight_buffers", -1), "weight buffer")
_K = uint("k", 1, Bound("array_rows"), "input depth of the tile (array rows used)")
_M = uint("m", 1, Bound("array_columns"), "output channels of the tile (array columns used)")
_ACC = uint("acc", 0, Bound("acc_rows", -1), "first accumulator row")


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class LoadWeights(Instruction):
    """Load a K x M int8 tile, stored row-major in ``ceil(K*M/cwl)`` consecutive words at ``addr``, into ``buf``."""

    MNEMONIC: ClassVar[str] = "LOADW"
    OPCODE: ClassVar[int] = 0x01
    UNITS: ClassVar[tuple[Unit, ...]] = (Unit.ME,)
    QUEUE: ClassVar[str] = "ME.load"
    FIELDS: ClassVar[tuple[Field, ...]] = (_BUF, addr("addr", "first word of the tile"), _K, _M)

    buf: int
    addr: int
    k: int
    m: int

    def spans(self, lim: Limits) -> tuple[Span, ...]:
        words = weight_tile_words(self.k, self.m, lim.cwl)
        return (Span(Space.CACHE, self.addr, self.addr + words - 1, "weight tile"),)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Gemm(Instruction):
    """``acc[acc+n, :m] (+)= x[n, off:off+k] @ tile``: N rows read at the words ``x`` walks."""

    MNEMONIC: ClassVar[str] = "GEMM"
    OPCODE: ClassVar[int] = 0x02
    UNITS: ClassVar[tuple[Unit, ...]] = (Unit.ME,)
    QUEUE: ClassVar[str] = "ME.array"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        _BUF,
        cache("x", "activation rows, one word each (N = its count)", Bound("max_rows")),
        uint("off", 0, Bound("cwl", -1), "byte of each row word where the K inputs start"),
        _K,
        _M,
        _ACC,
        uint("accumulate", 0, 1, "0 overwrites the accumulator rows, 1 adds to them"),
    )

    buf: int
    x: Pattern
    off: int
    k: int
    m: int
    acc: int
    accumulate: int

    def spans(self, lim: Limits) -> tuple[Span, ...]:
        lo, hi = self.x.span()
        return (
            Span(Space.CACHE, lo, hi, "x"),
            Span(Space.ACC, self.acc, self.acc + self.x.count - 1, "result rows"),
        )

    def constraints(self, lim: Limits) -> list[Problem]:
        return lanes_problems(self.off, self.k, lim, "input bytes off..off+k-1")


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Drain(Instruction):
    """Output stage: ``dst[n, off:off+m] = requantize(acc[acc+n, :m] + bias, mult, shift, zo, lo, hi)``.

    Bias, multiplier and shift per channel come from the parameter block at ``params``
    (see :func:`pytpu.isa.layouts.pack_output_stage`); bytes of ``dst`` outside ``off..off+m-1`` are kept.
    """

    MNEMONIC: ClassVar[str] = "DRAIN"
    OPCODE: ClassVar[int] = 0x03
    UNITS: ClassVar[tuple[Unit, ...]] = (Unit.ME,)
    QUEUE: ClassVar[str] = "ME.drain"
    FIELDS: ClassVar[tuple[Field, ...]] = (
        _ACC,
        _M,
        addr("params", "first word of the output-stage parameter block"),
        int8("zo", "output zero point"),
        int8("lo", "output clamp, low (lo <= hi; lo = zo is ReLU)"),
        int8("hi", "output clamp, high"),
        cache("dst", "destination words, one per accumulator row (rows = its count)", Bound("acc_rows")),
        uint("off", 0, Bound("cwl", -1), "byte of each destination word where the M outputs start"),
    )

    acc: int
    m: int
    params: int
    zo: int
    lo: int
    hi: int
    dst: Pattern
    off: int

    def spans(self, lim: Limits) -> tuple[Span, ...]:
        lo, hi = self.dst.span()
        return (
            Span(Space.ACC, self.acc, self.acc + self.dst.count - 1, "drained rows"),
            Span(Space.CACHE, self.params, self.params + output_stage_words(self.m, lim.cwl) - 1, "parameters"),
            Span(Space.CACHE, lo, hi, "dst"),
        )

    def constraints(self, lim: Limits) -> list[Problem]:
        return lanes_problems(self.off, self.m, lim, "output bytes off..off+m-1") + clamp_problems(self.lo, self.hi)
