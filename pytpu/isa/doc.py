"""Markdown tables of the instruction set, generated from the field tables (docs/isa.md embeds them)."""

from __future__ import annotations

from pytpu.isa.base import BY_OPCODE, Instruction
from pytpu.isa.fields import Bound, Field, Kind, limits_of
from pytpu.params import TPU_128x128_PARAMS

_REFERENCE = limits_of(TPU_128x128_PARAMS)


def _range(field: Field) -> str:
    text = field.range_text()
    if isinstance(field.lo, Bound) or isinstance(field.hi, Bound) or field.kind is Kind.ADDR:
        lo, hi = field.bounds(_REFERENCE)
        text += f" = [{lo}, {hi}]" if field.kind is not Kind.ADDR else f" = [0, {_REFERENCE.cache_words - 1}]"
    return text


def field_table(cls: type[Instruction]) -> str:
    """The field table of one instruction (128x128_asic values after ``=``)."""
    rows = ["| field | kind | range | meaning |", "| --- | --- | --- | --- |"]
    rows += [f"| `{f.name}` | {f.kind.value} | {_range(f)} | {f.doc} |" for f in cls.FIELDS]
    return "\n".join(rows)


def instruction_heading(cls: type[Instruction]) -> str:
    units = "/".join(u.name for u in cls.UNITS)
    return f"`{cls.MNEMONIC}` (opcode `{cls.OPCODE:#04x}`, {units})"


def all_tables() -> dict[str, str]:
    """Mnemonic -> field table, for every instruction."""
    return {BY_OPCODE[op].MNEMONIC: field_table(BY_OPCODE[op]) for op in sorted(BY_OPCODE)}
