"""Text assembler and disassembler.

A program is four sections, ``.unit ME``, ``.unit EWP``, ``.unit DTL0``, ``.unit DTL1``, each a list of
instructions, one per line::

    .unit ME
    0: LOADW buf=0 addr=0 k=128 m=128 after=DTL0:0
    1: GEMM buf=0 x=100[64:1] off=0 k=128 m=128 acc=0 accumulate=0

Every field is written ``name=value`` (any order; patterns as ``base`` or ``base[count:stride,...]``);
``after=`` lists dependencies as ``UNIT:index``.  The ``index:`` prefix is optional and, when present, must
be the instruction's position.  ``#`` starts a comment.  ``disassemble`` writes the canonical form, which
``assemble`` reads back to the same program.
"""

from __future__ import annotations

from pytpu.errors import AssemblyError
from pytpu.isa.base import BY_MNEMONIC, Instruction
from pytpu.isa.fields import Field
from pytpu.isa.pattern import Pattern
from pytpu.isa.program import Program
from pytpu.isa.units import UNITS, Ref, Unit, unit_named

_SECTION = ".unit"


def format_instruction(ins: Instruction) -> str:
    """One instruction as text, without its index."""
    parts = [ins.MNEMONIC] + [f"{f.name}={getattr(ins, f.name)}" for f in ins.FIELDS]
    if ins.deps:
        parts.append("after=" + ",".join(str(dep) for dep in ins.deps))
    return " ".join(parts)


def disassemble(program: Program) -> str:
    """The canonical text of a program."""
    lines = []
    for unit in UNITS:
        lines.append(f"{_SECTION} {unit.name}")
        lines.extend(f"{i}: {format_instruction(ins)}" for i, ins in enumerate(program.stream(unit)))
    return "\n".join(lines) + "\n"


def assemble(text: str) -> Program:
    """Read program text; raises AssemblyError naming the line of the first mistake."""
    streams: dict[Unit, list[Instruction]] = {unit: [] for unit in UNITS}
    unit: Unit | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            if line.startswith(_SECTION):
                unit = _section(line)
                continue
            if unit is None:
                raise ValueError(f"instruction before the first '{_SECTION}' line")
            streams[unit].append(parse_instruction(line, len(streams[unit])))
        except (ValueError, KeyError, TypeError) as exc:
            raise AssemblyError(f"line {number}: {exc}: {raw.strip()!r}") from None
    return Program.from_streams(streams)


def _section(line: str) -> Unit:
    words = line.split()
    if len(words) != 2:
        raise ValueError(f"a section line is '{_SECTION} ME|EWP|DTL0|DTL1'")
    try:
        return unit_named(words[1])
    except KeyError:
        raise ValueError(f"unknown unit {words[1]!r}") from None


def parse_instruction(line: str, index: int | None = None) -> Instruction:
    """One instruction from text; ``index``, if given, must match an ``index:`` prefix."""
    words = line.split()
    if words[0].endswith(":"):
        if index is not None and words[0][:-1] != str(index):
            raise ValueError(f"index prefix {words[0]} but this is instruction {index}")
        words = words[1:]
    if not words:
        raise ValueError("no mnemonic")
    cls = BY_MNEMONIC.get(words[0].upper())
    if cls is None:
        raise ValueError(f"unknown mnemonic {words[0]!r}")
    given = _assignments(words[1:])
    deps = _deps(given.pop("after", ""))
    fields = {f.name: f for f in cls.FIELDS}
    unknown = sorted(set(given) - set(fields))
    missing = [name for name in fields if name not in given]
    if unknown or missing:
        raise ValueError(f"{cls.MNEMONIC}: unknown fields {unknown}, missing fields {missing}")
    values = {name: _value(fields[name], text) for name, text in given.items()}
    return cls(deps=deps, **values)


def _assignments(words: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for word in words:
        name, eq, value = word.partition("=")
        if not eq or not value:
            raise ValueError(f"{word!r} is not name=value")
        if name in out:
            raise ValueError(f"field {name} given twice")
        out[name] = value
    return out


def _value(field: Field, text: str) -> int | Pattern:
    return Pattern.parse(text) if field.is_pattern else int(text)


def _deps(text: str) -> tuple[Ref, ...]:
    if not text:
        return ()
    out = []
    for item in text.split(","):
        name, _, index = item.partition(":")
        out.append(Ref(unit_named(name), int(index)))
    return tuple(out)
