"""Reductions over groups of words: the integer softmax and layer normalisation.

A group is ``words`` consecutive elements of the walked patterns, read as one dense run of codes: every
byte of each word, except the group's last word, of which only the first ``last`` bytes count.  The
compiler lays a softmax's normalised axes out densely before it (a layout move), so one field pair
describes any group size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pytpu.errors import FieldRangeError, ProgramError
from pytpu.isa.base import Instruction, Problem, Space, Span, counts_problems, register
from pytpu.isa.ewp_arith import pattern_spans
from pytpu.isa.fields import Bound, Field, Limits, addr, cache, int8, int32, shift, sint, uint
from pytpu.isa.layouts import norm_params_words, table32_words
from pytpu.isa.pattern import Pattern
from pytpu.isa.units import Unit

MAX_GROUP_WORDS = 65535
"""Largest group a SOFTMAX normalises (in words)."""

_GROUP_FIELDS = (
    cache("dst", "destination words (a whole number of groups)"),
    cache("src", "source words (count = dst's)"),
    uint("words", 1, MAX_GROUP_WORDS, "words per group (src.count is a multiple of it)"),
    uint("last", 1, Bound("cwl"), "codes in the last word of each group (the others are full)"),
)
"""The destination, source and group shape every reduction shares."""


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Softmax(Instruction):
    """Per group: ``d = a - max(a)``, ``e = table[d + 255]`` (int32), ``D = sum(e) << shift``,
    ``dst = clamp(floor((2*e*mult + D) / (2*D)) + zo, -128, 127)``; bytes outside the group's codes are kept."""

    MNEMONIC: ClassVar[str] = "SOFTMAX"
    OPCODE: ClassVar[int] = 0x19
    UNITS: ClassVar[tuple[Unit, ...]] = (Unit.EWP,)
    FIELDS: ClassVar[tuple[Field, ...]] = (
        *_GROUP_FIELDS,
        addr("table", "first word of the exponential table: int32[256], entry d+255 for d = a - max"),
        int32("mult", "numerator multiplier (round(2^shift / output scale))"),
        shift(),
        int8("zo", "output zero point"),
    )

    dst: Pattern
    src: Pattern
    words: int
    last: int
    table: int
    mult: int
    shift: int
    zo: int

    def spans(self, lim: Limits) -> tuple[Span, ...]:
        table = Span(Space.CACHE, self.table, self.table + table32_words(lim.cwl) - 1, "table")
        return (*pattern_spans(dst=self.dst, src=self.src), table)

    def constraints(self, lim: Limits) -> list[Problem]:
        problems = counts_problems(self.dst.count, src=self.src.count)
        if self.dst.count % self.words:
            message = f"dst walks {self.dst.count} words, not a whole number of {self.words}-word groups"
            problems.append((ProgramError, message))
        return problems


MAX_NORM_CHANNELS = 1 << 16
"""Largest row a LAYERNORM normalises (in codes): ``sum(q * q)`` stays inside int32."""

MAX_EPS = 1 << 56
"""Largest ``eps`` of a LAYERNORM: ``u`` stays below 2^57."""


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class LayerNorm(Instruction):
    """Per group of ``C`` codes ``q`` (channel ``c``), the layer normalisation of integer_arithmetic.md:
    ``s1 = sum(q)``, ``s2 = sum(q*q)``, ``u = C*s2 - s1*s1 + eps``, ``j`` with ``m = u / 4^j`` in
    ``[2^14, 2^16)`` (truncated), ``r0 = table[m >> 8]``, ``r1 = round_shift(r0 * (3*2^23 - round_shift(m*r0*r0,
    23)), 24)``, ``n = round_shift((C*q - s1) * r1, 11 + j)``,
    ``dst = clamp(round_shift(n * mult[c] + bias[c], shift[c]) + zo, -128, 127)``; bytes beyond the codes are kept."""

    MNEMONIC: ClassVar[str] = "LAYERNORM"
    OPCODE: ClassVar[int] = 0x1C
    UNITS: ClassVar[tuple[Unit, ...]] = (Unit.EWP,)
    FIELDS: ClassVar[tuple[Field, ...]] = (
        *_GROUP_FIELDS,
        sint("eps", 0, MAX_EPS, "epsilon in codes^2, times C^2, added to C^2 times the variance"),
        addr("table", "first word of the reciprocal square root table: int32[256], entry m >> 8"),
        addr("params", "first word of the per-channel block: bias int64[C], mult int32[C], shift uint8[C]"),
        int8("zo", "output zero point"),
    )

    dst: Pattern
    src: Pattern
    words: int
    last: int
    eps: int
    table: int
    params: int
    zo: int

    def channels(self, lim: Limits) -> int:
        """Codes per group."""
        return (self.words - 1) * lim.cwl + self.last

    def spans(self, lim: Limits) -> tuple[Span, ...]:
        table = Span(Space.CACHE, self.table, self.table + table32_words(lim.cwl) - 1, "table")
        block = norm_params_words(self.channels(lim), lim.cwl)
        params = Span(Space.CACHE, self.params, self.params + block - 1, "parameters")
        return (*pattern_spans(dst=self.dst, src=self.src), table, params)

    def constraints(self, lim: Limits) -> list[Problem]:
        problems = counts_problems(self.dst.count, src=self.src.count)
        if self.dst.count % self.words:
            message = f"dst walks {self.dst.count} words, not a whole number of {self.words}-word groups"
            problems.append((ProgramError, message))
        if self.channels(lim) > MAX_NORM_CHANNELS:
            problems.append((FieldRangeError, f"groups of {self.channels(lim)} codes, more than {MAX_NORM_CHANNELS}"))
        return problems
