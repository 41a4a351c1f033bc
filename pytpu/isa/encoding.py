"""Compact, deterministic binary encoding of an instruction stream.

A stream is ``version`` (one byte), the instruction count, then each instruction: its opcode (one byte),
its fields in the order of its ``FIELDS`` table, and its dependencies.  Unsigned fields and addresses are
LEB128 varints, signed fields zigzag varints; a pattern is ``ndims, base, (count, zigzag stride) * ndims``;
dependencies are ``n, (unit byte, index varint) * n``.  Equal streams give equal bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pytpu.errors import EncodingError
from pytpu.isa.base import BY_OPCODE, Instruction
from pytpu.isa.fields import Field, Kind
from pytpu.isa.pattern import Pattern
from pytpu.isa.program import Program
from pytpu.isa.units import UNITS, Ref, Unit

ISA_VERSION = 1


def encode(instructions: Sequence[Instruction]) -> bytes:
    """The bytes of one unit's stream."""
    out = bytearray((ISA_VERSION,))
    _uvarint(out, len(instructions))
    for ins in instructions:
        _instruction(out, ins)
    return bytes(out)


def decode(data: bytes) -> tuple[Instruction, ...]:
    """Inverse of :func:`encode`; raises EncodingError on malformed bytes."""
    reader = _Reader(data)
    version = reader.byte()
    if version != ISA_VERSION:
        raise EncodingError(f"instruction stream version {version}, this decoder reads version {ISA_VERSION}")
    count = reader.uvarint()
    out = tuple(_read_instruction(reader, i) for i in range(count))
    if reader.pos != len(data):
        raise EncodingError(f"{len(data) - reader.pos} bytes left after {count} instructions")
    return out


def encode_program(program: Program) -> dict[str, bytes]:
    """Every stream of a program, keyed by unit name (``"ME"``, ``"EWP"``, ``"DTL0"``, ``"DTL1"``)."""
    return {unit.name: encode(program.stream(unit)) for unit in UNITS}


def decode_program(streams: Mapping[str, bytes]) -> Program:
    """Inverse of :func:`encode_program`; a missing unit has an empty stream."""
    unknown = sorted(set(streams) - {unit.name for unit in UNITS})
    if unknown:
        raise EncodingError(f"streams of unknown units {unknown}")
    return Program.from_streams({unit: decode(streams[unit.name]) for unit in UNITS if unit.name in streams})


def _instruction(out: bytearray, ins: Instruction) -> None:
    out.append(ins.OPCODE)
    for field in ins.FIELDS:
        _field(out, field, getattr(ins, field.name))
    _uvarint(out, len(ins.deps))
    for dep in ins.deps:
        out.append(int(dep.unit))
        _uvarint(out, dep.index)


def _field(out: bytearray, field: Field, value: object) -> None:
    if isinstance(value, Pattern):
        _uvarint(out, len(value.dims))
        _uvarint(out, value.base)
        for count, stride in value.dims:
            _uvarint(out, count)
            _svarint(out, stride)
    elif not isinstance(value, int):
        raise EncodingError(f"field {field.name} holds {type(value).__name__}, not an int or a pattern")
    elif field.kind is Kind.INT:
        _svarint(out, value)
    else:
        _uvarint(out, value)


def _uvarint(out: bytearray, value: int) -> None:
    if value < 0:
        raise EncodingError(f"cannot encode {value} as an unsigned field")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _svarint(out: bytearray, value: int) -> None:
    _uvarint(out, value * 2 if value >= 0 else -value * 2 - 1)


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise EncodingError(f"stream ends early at byte {self.pos}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def uvarint(self) -> int:
        value = shift = 0
        while True:
            b = self.byte()
            value |= (b & 0x7F) << shift
            if b < 0x80:
                return value
            shift += 7

    def svarint(self) -> int:
        z = self.uvarint()
        return z >> 1 if z & 1 == 0 else -((z + 1) >> 1)

    def pattern(self) -> Pattern:
        ndims = self.uvarint()
        base = self.uvarint()
        return Pattern(base, tuple((self.uvarint(), self.svarint()) for _ in range(ndims)))


def _read_instruction(reader: _Reader, index: int) -> Instruction:
    opcode = reader.byte()
    cls = BY_OPCODE.get(opcode)
    if cls is None:
        raise EncodingError(f"instruction {index}: unknown opcode {opcode:#04x}")
    values: dict[str, object] = {}
    for field in cls.FIELDS:
        if field.is_pattern:
            values[field.name] = reader.pattern()
        elif field.kind is Kind.INT:
            values[field.name] = reader.svarint()
        else:
            values[field.name] = reader.uvarint()
    deps = []
    for _ in range(reader.uvarint()):
        unit = reader.byte()
        if unit >= len(Unit):
            raise EncodingError(f"instruction {index}: dependency on unknown unit {unit}")
        deps.append(Ref(Unit(unit), reader.uvarint()))
    return cls(deps=tuple(deps), **values)
