"""Reductions over groups of words: the integer softmax.

A group is ``words`` consecutive elements of the walked patterns, read as one dense run of codes: every
byte of each word, except the group's last word, of which only the first ``last`` bytes count.  The
compiler lays a softmax's normalised axes out densely before it (a layout move), so one field pair
describes any group size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from pytpu.errors import ProgramError
from pytpu.isa.base import Instruction, Problem, Space, Span, counts_problems, register
from pytpu.isa.ewp_arith import pattern_spans
from pytpu.isa.fields import Bound, Field, Limits, addr, cache, int8, int32, shift, uint
from pytpu.isa.layouts import exp_table_words
from pytpu.isa.pattern import Pattern
from pytpu.isa.units import Unit

MAX_GROUP_WORDS = 65535
"""Largest group a SOFTMAX normalises (in words)."""


@register
@dataclass(frozen=True, slots=True, kw_only=True)
class Softmax(Instruction):
    """Per group: ``d = a - max(a)``, ``e = table[d + 255]`` (int32), ``D = sum(e) << shift``,
    ``dst = clamp(floor((2*e*mult + D) / (2*D)) + zo, -128, 127)``; bytes outside the group's codes are kept."""

    MNEMONIC: ClassVar[str] = "SOFTMAX"
    OPCODE: ClassVar[int] = 0x19
    UNITS: ClassVar[tuple[Unit, ...]] = (Unit.EWP,)
    FIELDS: ClassVar[tuple[Field, ...]] = (
        cache("dst", "destination words (a whole number of groups)"),
        cache("src", "source words (count = dst's)"),
        uint("words", 1, MAX_GROUP_WORDS, "words per group (src.count is a multiple of it)"),
        uint("last", 1, Bound("cwl"), "codes in the last word of each group (the others are full)"),
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
        table = Span(Space.CACHE, self.table, self.table + exp_table_words(lim.cwl) - 1, "table")
        return (*pattern_spans(dst=self.dst, src=self.src), table)

    def constraints(self, lim: Limits) -> list[Problem]:
        problems = counts_problems(self.dst.count, src=self.src.count)
        if self.dst.count % self.words:
            message = f"dst walks {self.dst.count} words, not a whole number of {self.words}-word groups"
            problems.append((ProgramError, message))
        return problems
