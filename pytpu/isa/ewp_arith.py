"""Element-wise arithmetic over cache words: rescale, add, mul, lookup table, PReLU, interpolation.

Each walks its patterns together, element ``i`` being one word; bytes ``off..off+len-1`` of every word are
processed (int8 lanes) and the other bytes of the destination words are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pytpu.errors import FieldRangeError
from pytpu.isa.base import (
    Instruction,
    Problem,
    Space,
    Span,
    clamp_problems,
    counts_problems,
    lanes_problems,
    register,
)
from pytpu.isa.fields import (
    Bound,
    Field,
    Limits,
    addr,
    cache,
    int8,
    int32,
    lane_fields,
    requant_fields,
    shift,
    sint,
    uint,
)
from pytpu.isa.layouts import lane_mults_words
from pytpu.isa.pattern import Pattern
from pytpu.isa.units import Unit

_DST = cache("dst", "destination words")
_A = cache("a", "first operand words (count = dst's)")
_B = cache("b", "second operand words (count = dst's; stride 0 broadcasts one word)")
_ZA = int8("za", "zero point of a")
_ZB = int8("zb", "zero point of b")


def pattern_spans(**patterns: Pattern) -> tuple[Span, ...]:
    out = []
    for name, pattern in patterns.items():
        lo, hi = pattern.span()
        out.append(Span(Space.CACHE, lo, hi, name))
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Lanewise(Instruction):
    """Shared shape of the element-wise instructions: a destination, a byte range and a clamp."""

    UNITS: ClassVar[tuple[Unit, ...]] = (Unit.EWP,)

    dst: Pattern
    off: int
    len: int

    def operands(self) -> dict[str, Pattern]:
        return {}

    def spans(self, lim: Limits) -> tuple[Span, ...]:
        return pattern_spans(dst=self.dst, **self.operands())

    def constraints(self, lim: Limits) -> list[Problem]:
        counts = {name: p.count for name, p in self.operands().items()}
        problems = lanes_problems(self.off, self.len, lim) + counts_problems(self.dst.count, **counts)
        clamp = self.clamp()
        return problems + (clamp_problems(*clamp) if clamp else [])

    def clamp(self) -> tuple[int, int] | None:
        return None


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Rescale(_Lanewise):
    """``dst = requantize(a - za, mult, shift, zo, lo, hi)``."""

    MNEMONIC: ClassVar[str] = "RESCALE"
    OPCODE: ClassVar[int] = 0x10
    FIELDS: ClassVar[tuple[Field, ...]] = (_DST, _A, _ZA, *requant_fields(), *lane_fields())

    a: Pattern
    za: int
    mult: int
    shift: int
    zo: int
    lo: int
    hi: int

    def operands(self) -> dict[str, Pattern]:
        return {"a": self.a}

    def clamp(self) -> tuple[int, int] | None:
        return self.lo, self.hi


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Add(_Lanewise):
    """``dst = clamp(round_shift((a - za) * ma + (b - zb) * mb, shift) + zo, lo, hi)``."""

    MNEMONIC: ClassVar[str] = "ADD"
    OPCODE: ClassVar[int] = 0x11
    FIELDS: ClassVar[tuple[Field, ...]] = (
        _DST,
        _A,
        _B,
        _ZA,
        _ZB,
        int32("ma", "multiplier of a"),
        int32("mb", "multiplier of b (negative: subtraction)"),
        shift(),
        int8("zo", "output zero point"),
        int8("lo", "output clamp, low (lo <= hi)"),
        int8("hi", "output clamp, high"),
        *lane_fields(),
    )

    a: Pattern
    b: Pattern
    za: int
    zb: int
    ma: int
    mb: int
    shift: int
    zo: int
    lo: int
    hi: int

    def operands(self) -> dict[str, Pattern]:
        return {"a": self.a, "b": self.b}

    def clamp(self) -> tuple[int, int] | None:
        return self.lo, self.hi


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Mul(_Lanewise):
    """``dst = requantize((a - za) * (b - zb), mult, shift, zo, lo, hi)``."""

    MNEMONIC: ClassVar[str] = "MUL"
    OPCODE: ClassVar[int] = 0x12
    FIELDS: ClassVar[tuple[Field, ...]] = (_DST, _A, _B, _ZA, _ZB, *requant_fields(), *lane_fields())

    a: Pattern
    b: Pattern
    za: int
    zb: int
    mult: int
    shift: int
    zo: int
    lo: int
    hi: int

    def operands(self) -> dict[str, Pattern]:
        return {"a": self.a, "b": self.b}

    def clamp(self) -> tuple[int, int] | None:
        return self.lo, self.hi


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Lut(_Lanewise):
    """``dst = table[a + 128]``; the 256-entry int8 table fills ``lut_words`` words at ``table``."""

    MNEMONIC: ClassVar[str] = "LUT"
    OPCODE: ClassVar[int] = 0x13
    FIELDS: ClassVar[tuple[Field, ...]] = (
        _DST,
        _A,
        addr("table", "first word of the table (byte a+128 holds the result for code a)"),
        *lane_fields(),
    )

    a: Pattern
    table: int

    def operands(self) -> dict[str, Pattern]:
        return {"a": self.a}

    def spans(self, lim: Limits) -> tuple[Span, ...]:
        table = Span(Space.CACHE, self.table, self.table + lim.lut_words - 1, "table")
        return (*pattern_spans(dst=self.dst, a=self.a), table)


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class PRelu(_Lanewise):
    """``v = a - za``; ``dst = clamp(round_shift(v * (v >= 0 ? pos : neg[lane]), shift) + zo, lo, hi)``; the
    negative multipliers are one int32 per lane (``lane_mults_words`` words at ``neg``, entry ``l`` for lane ``l``)."""

    MNEMONIC: ClassVar[str] = "PRELU"
    OPCODE: ClassVar[int] = 0x1A
    FIELDS: ClassVar[tuple[Field, ...]] = (
        _DST,
        _A,
        _ZA,
        int32("pos", "multiplier where a >= za"),
        addr("neg", "first word of the multipliers where a < za: int32[cwl], entry l for lane l"),
        shift(),
        int8("zo", "output zero point"),
        int8("lo", "output clamp, low (lo <= hi)"),
        int8("hi", "output clamp, high"),
        *lane_fields(),
    )

    a: Pattern
    za: int
    pos: int
    neg: int
    shift: int
    zo: int
    lo: int
    hi: int

    def operands(self) -> dict[str, Pattern]:
        return {"a": self.a}

    def spans(self, lim: Limits) -> tuple[Span, ...]:
        table = Span(Space.CACHE, self.neg, self.neg + lane_mults_words(lim.cwl) - 1, "negative multipliers")
        return (*pattern_spans(dst=self.dst, a=self.a), table)

    def clamp(self) -> tuple[int, int] | None:
        return self.lo, self.hi


MAX_TAPS = 4
"""Taps an INTERP sums."""

_OFFSET = (Bound("cache_words", 1, negate=True), Bound("cache_words", -1))


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Interp(_Lanewise):
    """``dst = clamp(round_shift(sum over t < taps of w_t * src_t, shift) + zo, lo, hi)`` on raw codes; tap 0
    reads the words ``src`` walks, tap ``t`` the words ``d_t`` further (``d_0 = 0``)."""

    MNEMONIC: ClassVar[str] = "INTERP"
    OPCODE: ClassVar[int] = 0x1B
    FIELDS: ClassVar[tuple[Field, ...]] = (
        _DST,
        cache("src", "words of tap 0 (count = dst's)"),
        uint("taps", 1, MAX_TAPS, "taps summed (fields of later taps must be 0)"),
        sint("d1", *_OFFSET, "words from tap 0's word to tap 1's"),
        sint("d2", *_OFFSET, "words from tap 0's word to tap 2's"),
        sint("d3", *_OFFSET, "words from tap 0's word to tap 3's"),
        int32("w0", "weight of tap 0"),
        int32("w1", "weight of tap 1"),
        int32("w2", "weight of tap 2"),
        int32("w3", "weight of tap 3"),
        shift(),
        int8("zo", "output zero point"),
        int8("lo", "output clamp, low (lo <= hi)"),
        int8("hi", "output clamp, high"),
        *lane_fields(),
    )

    src: Pattern
    taps: int
    d1: int
    d2: int
    d3: int
    w0: int
    w1: int
    w2: int
    w3: int
    shift: int
    zo: int
    lo: int
    hi: int

    def offsets(self) -> tuple[int, ...]:
        """Word offset of each tap summed."""
        return (0, self.d1, self.d2, self.d3)[: self.taps]

    def weights(self) -> tuple[int, ...]:
        """Weight of each tap summed."""
        return (self.w0, self.w1, self.w2, self.w3)[: self.taps]

    def operands(self) -> dict[str, Pattern]:
        return {"src": self.src}

    def spans(self, lim: Limits) -> tuple[Span, ...]:
        taps = {f"tap {t}": Pattern(self.src.base + d, self.src.dims) for t, d in enumerate(self.offsets())}
        out = [*pattern_spans(dst=self.dst)]
        for name, pattern in taps.items():
            lo, hi = pattern.span()
            out.append(Span(Space.CACHE, lo, hi, name))
        return tuple(out)

    def constraints(self, lim: Limits) -> list[Problem]:
        problems = _Lanewise.constraints(self, lim)
        unused = [(f"d{t}", getattr(self, f"d{t}")) for t in range(max(self.taps, 1), MAX_TAPS)]
        unused += [(f"w{t}", getattr(self, f"w{t}")) for t in range(self.taps, MAX_TAPS)]
        for name, value in unused:
            if value:
                message = f"{name}={value} belongs to a tap beyond taps={self.taps}: must be 0"
                problems.append((FieldRangeError, message))
        return problems

    def clamp(self) -> tuple[int, int] | None:
        return self.lo, self.hi
