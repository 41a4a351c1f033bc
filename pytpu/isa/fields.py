"""Instruction fields declared as data: the encoder, the assembler, the checker and docs/isa.md read this table.

A field's range may depend on the platform; it then names an attribute of :class:`Limits` (a
:class:`Bound`), so one instruction set serves every :class:`~pytpu.params.ModelParameters`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from pytpu.isa.pattern import MAX_DIMS, Pattern
from pytpu.params import ModelParameters

LUT_ENTRIES = 256
"""Entries of an EWP lookup table: one int8 result per int8 code."""

MAX_COUNT = 1 << 24
"""Largest element count of a pattern that no tighter bound limits."""


@dataclass(frozen=True)
class Limits:
    """The platform numbers instruction fields are checked against, derived from ModelParameters."""

    cwl: int
    cache_words: int
    array_rows: int
    array_columns: int
    acc_rows: int
    max_rows: int
    weight_buffers: int
    ddr_channels: int
    ddr_words: int

    @property
    def lut_words(self) -> int:
        """Words one 256-entry lookup table occupies."""
        return -(-LUT_ENTRIES // self.cwl)


@lru_cache(maxsize=16)
def limits_of(hw: ModelParameters) -> Limits:
    """The :class:`Limits` of a platform."""
    tpu = hw.tpu_parameters
    return Limits(
        cwl=tpu.cache_word_length,
        cache_words=tpu.cache_words,
        array_rows=tpu.array_rows,
        array_columns=tpu.array_columns,
        acc_rows=tpu.accumulator_rows,
        max_rows=tpu.max_gemm_rows,
        weight_buffers=tpu.weight_buffers,
        ddr_channels=hw.ddr.channels,
        ddr_words=hw.ddr.channel_size // tpu.cache_word_length,
    )


class Kind(Enum):
    """How a field is encoded and checked."""

    UINT = "uint"
    INT = "int"
    ADDR = "cache address"
    CACHE = "cache pattern"
    DDR = "DDR pattern"


@dataclass(frozen=True)
class Bound:
    """A platform-dependent bound: ``Limits.<limit> + offset``, or ``-Limits.<limit> + offset`` if negated."""

    limit: str
    offset: int = 0
    negate: bool = False

    def value(self, lim: Limits) -> int:
        base = int(getattr(lim, self.limit))
        return (-base if self.negate else base) + self.offset

    def __str__(self) -> str:
        text = f"-{self.limit}" if self.negate else self.limit
        return text if self.offset == 0 else f"{text}{self.offset:+d}"


@dataclass(frozen=True)
class Field:
    """One instruction field. For patterns, ``lo``/``hi`` bound the element count."""

    name: str
    kind: Kind
    lo: int | Bound
    hi: int | Bound
    doc: str

    def bounds(self, lim: Limits) -> tuple[int, int]:
        return _resolve(self.lo, lim), _resolve(self.hi, lim)

    @property
    def is_pattern(self) -> bool:
        return self.kind in (Kind.CACHE, Kind.DDR)

    def range_text(self) -> str:
        """The documented range, e.g. ``[1, array_rows]``."""
        if self.kind is Kind.ADDR:
            return "[0, cache_words-1]"
        text = f"[{self.lo}, {self.hi}]"
        return f"count {text}" if self.is_pattern else text


def _resolve(bound: int | Bound, lim: Limits) -> int:
    return bound if isinstance(bound, int) else bound.value(lim)


def space_words(kind: Kind, lim: Limits) -> int:
    """Words of the memory a pattern or address field addresses."""
    return lim.ddr_words if kind is Kind.DDR else lim.cache_words


def field_problem(field: Field, value: object, lim: Limits) -> str | None:
    """Why ``value`` is not a valid ``field`` (None if it is). Addresses are checked as spans, not here."""
    if field.is_pattern:
        if not isinstance(value, Pattern):
            return f"{field.name} must be a pattern, not {type(value).__name__}"
        return _pattern_problem(field, value, lim)
    if not isinstance(value, int) or isinstance(value, bool):
        return f"{field.name} must be an int, not {type(value).__name__}"
    if field.kind is Kind.ADDR:
        return None if value >= 0 else f"{field.name}={value} is negative"
    lo, hi = field.bounds(lim)
    if lo <= value <= hi:
        return None
    return f"{field.name}={value} outside {field.range_text()} = [{lo}, {hi}]"


def _pattern_problem(field: Field, pattern: Pattern, lim: Limits) -> str | None:
    if len(pattern.dims) > MAX_DIMS:
        return f"{field.name} has {len(pattern.dims)} dimensions, at most {MAX_DIMS}"
    if pattern.base < 0:
        return f"{field.name} base {pattern.base} is negative"
    words = space_words(field.kind, lim)
    for count, stride in pattern.dims:
        if not 1 <= count <= MAX_COUNT:
            return f"{field.name} dimension count {count} outside [1, {MAX_COUNT}]"
        if abs(stride) >= words:
            return f"{field.name} stride {stride} outside [-{words - 1}, {words - 1}]"
    lo, hi = field.bounds(lim)
    if not lo <= pattern.count <= hi:
        return f"{field.name} walks {pattern.count} words, outside {field.range_text()} = [{lo}, {hi}]"
    return None


# Field constructors shared by several instructions.


def uint(name: str, lo: int | Bound, hi: int | Bound, doc: str) -> Field:
    return Field(name, Kind.UINT, lo, hi, doc)


def sint(name: str, lo: int | Bound, hi: int | Bound, doc: str) -> Field:
    return Field(name, Kind.INT, lo, hi, doc)


def addr(name: str, doc: str) -> Field:
    return Field(name, Kind.ADDR, 0, Bound("cache_words", -1), doc)


def cache(name: str, doc: str, hi: int | Bound = MAX_COUNT) -> Field:
    return Field(name, Kind.CACHE, 1, hi, doc)


def ddr(name: str, doc: str) -> Field:
    return Field(name, Kind.DDR, 1, MAX_COUNT, doc)


def int8(name: str, doc: str) -> Field:
    return sint(name, -128, 127, doc)


def int32(name: str, doc: str) -> Field:
    return sint(name, -(1 << 31), (1 << 31) - 1, doc)


def shift(name: str = "shift") -> Field:
    return uint(name, 0, 62, "right shift with rounding (round_shift)")


def lane_fields() -> tuple[Field, Field]:
    """``off``/``len``: the byte range of every word an element-wise instruction reads and writes."""
    return (
        uint("off", 0, Bound("cwl", -1), "first byte (lane) of each word processed"),
        uint("len", 1, Bound("cwl"), "bytes (lanes) of each word processed; off+len <= cwl"),
    )


def requant_fields(mult: str = "mult") -> tuple[Field, ...]:
    """The output stage of an EWP operation: requantize(v, mult, shift, zo, lo, hi)."""
    return (
        int32(mult, "fixed-point multiplier"),
        shift(),
        int8("zo", "output zero point"),
        int8("lo", "output clamp, low (lo <= hi)"),
        int8("hi", "output clamp, high"),
    )
